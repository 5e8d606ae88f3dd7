import CSwitchyardCUDA

/// A failed NCCL call: the raw `ncclResult_t`, its name, NCCL's message and the call that failed.
/// A struct, not an enum, so that result codes a newer NCCL adds never break it.
public struct NCCLError: Error, RawRepresentable, Hashable, CustomStringConvertible, Sendable {
    public var rawValue: Int32
    public var name: String
    public var message: String
    public var call: String

    public init(rawValue: Int32) { self.init(rawValue: rawValue, message: "", call: "") }

    public init(rawValue: Int32, message: String, call: String) {
        self.rawValue = rawValue
        self.name = Self.name(of: rawValue)
        self.message = message
        self.call = call
    }

    /// `SY_NCCL_NOT_LOADED`: libnccl.so.2 could not be loaded, so no NCCL call was made.
    public static let notLoaded: Int32 = 1000
    /// `SY_NCCL_MULTICAST_REFUSED`: NCCL_NVLS_ENABLE was set to something other than 0.
    public static let multicastRefused: Int32 = 1001

    public var description: String { "\(call): \(name) (\(rawValue)): \(message)" }

    static func name(of result: Int32) -> String {
        switch result {
        case 0: "ncclSuccess"
        case 1: "ncclUnhandledCudaError"
        case 2: "ncclSystemError"
        case 3: "ncclInternalError"
        case 4: "ncclInvalidArgument"
        case 5: "ncclInvalidUsage"
        case 6: "ncclRemoteError"
        case 7: "ncclInProgress"
        case notLoaded: "notLoaded"
        case multicastRefused: "multicastRefused"
        default: "ncclResult(\(result))"
        }
    }
}

/// Throws an ``NCCLError`` for a non-zero result, with NCCL's own message.
@inline(__always)
func checkNCCL(_ result: Int32, _ call: @autoclosure () -> String) throws {
    guard result != 0 else { return }
    throw NCCLError(rawValue: result, message: String(cString: sy_nccl_get_error_string(result)), call: call())
}
