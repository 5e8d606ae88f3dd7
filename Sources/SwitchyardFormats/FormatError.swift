/// An error in a request to the formats module: a shape that does not match the data, an impossible block
/// layout, non-finite input to a quantizer, or scales that the layout cannot hold.
/// The message says what was wrong and what is allowed.
public struct FormatError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        case shapeMismatch
        case invalidLayout
        case nonFiniteInput
        case invalidScale
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}
