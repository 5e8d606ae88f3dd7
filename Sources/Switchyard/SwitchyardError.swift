/// An error in what the caller asked for: a bad configuration, mismatched shapes, non-finite input,
/// a malformed file. The message says what was wrong and what is allowed.
public struct SwitchyardError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        case invalidConfiguration
        case shapeMismatch
        case nonFiniteInput
        case malformedFile
        case unsupported
        case io
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}
