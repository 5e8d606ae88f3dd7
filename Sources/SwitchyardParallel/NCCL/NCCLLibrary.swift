import CSwitchyardCUDA
import Switchyard

/// The NCCL library, loaded at run time from `libnccl.so.2` (or `$SWITCHYARD_NCCL_LIBRARY`); never linked.
///
/// Loading sets `NCCL_NVLS_ENABLE=0` when it is unset and refuses to load when it is set to anything else:
/// NVLink multicast stays off, and Switchyard never requests multicast objects.
///
/// ```swift
/// try NCCLLibrary.load()
/// print(try NCCLLibrary.version())   // 22805 for NCCL 2.28.5
/// ```
public enum NCCLLibrary {
    /// Loads NCCL once (later calls return at once). Throws an ``NCCLError`` that says why it could not.
    public static func load(path: String? = nil) throws {
        var message = [CChar](repeating: 0, count: 512)
        let result = sy_nccl_load(path, &message, message.count)
        guard result == 0 else {
            let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw NCCLError(rawValue: result, message: text, call: "dlopen(\(path ?? "libnccl.so.2"))")
        }
    }

    /// Whether NCCL is loaded in this process.
    public static var isLoaded: Bool { sy_nccl_is_loaded() != 0 }

    /// NCCL's version code: major·10000 + minor·100 + patch for 2.9 and later.
    public static func version() throws -> Int {
        try load()
        var version: Int32 = 0
        try checkNCCL(sy_nccl_get_version(&version), "ncclGetVersion")
        return Int(version)
    }

    /// A fresh unique id; one rank makes it and shares it (see ``NCCLRendezvous``) before ``NCCLCommunicator``
    /// joins the group.
    public static func uniqueID() throws -> [UInt8] {
        try load()
        var id = sy_nccl_unique_id()
        try checkNCCL(sy_nccl_get_unique_id(&id), "ncclGetUniqueId")
        return withUnsafeBytes(of: &id) { Array($0) }
    }

    /// Runs `body` inside ncclGroupStart/ncclGroupEnd. One thread that drives several GPUs must issue their
    /// collectives inside one group, or the first GPU's call can wait forever for the others.
    public static func group<R>(_ body: () throws -> R) throws -> R {
        try load()
        try checkNCCL(sy_nccl_group_start(), "ncclGroupStart")
        let result: R
        do {
            result = try body()
        } catch {
            _ = sy_nccl_group_end()
            throw error
        }
        try checkNCCL(sy_nccl_group_end(), "ncclGroupEnd")
        return result
    }

    /// The unique id's size in bytes.
    public static let uniqueIDBytes = Int(SY_NCCL_UNIQUE_ID_BYTES)

    /// NCCL's data type for `dtype` in reductions; nil where NCCL has none Switchyard relies on.
    static func reductionType(_ dtype: DType) -> Int32? {
        switch dtype {
        case .float64: Int32(sy_nccl_float64)
        case .float32: Int32(sy_nccl_float32)
        case .bfloat16: Int32(sy_nccl_bfloat16)
        case .float16: Int32(sy_nccl_float16)
        case .int64: Int32(sy_nccl_int64)
        case .int32: Int32(sy_nccl_int32)
        case .uint8: Int32(sy_nccl_uint8)
        case .float8E4M3, .float8E5M2, .float8E8M0: nil
        }
    }

    static func operation(_ op: ReductionOperation) -> Int32 {
        switch op {
        case .sum: Int32(sy_nccl_sum)
        case .product: Int32(sy_nccl_prod)
        case .max: Int32(sy_nccl_max)
        case .min: Int32(sy_nccl_min)
        }
    }
}
