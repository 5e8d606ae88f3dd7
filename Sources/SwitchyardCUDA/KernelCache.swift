import Synchronization

/// An on-disk cache of NVRTC output, so that each kernel compiles once per machine rather than once per run.
///
/// The key is an FNV-1a 64-bit hash of everything that changes the cubin: the source, the headers, the options,
/// the architecture and the NVRTC version. Each entry is two files, `NAME-KEY.cubin` (usable with cuobjdump) and
/// `NAME-KEY.log`, each written atomically; the log is written first, so a cubin never lacks its log.
///
/// The folder is `$SWITCHYARD_CACHE_DIR`, else `~/.cache/switchyard/kernels`, else a folder in `/tmp`.
///
/// ```swift
/// let cache = try KernelCache()
/// let kernels = try cache.compiled(source: source, name: "moe_router.cu", headers: KernelSources.headers,
///                                  options: ["--std=c++17"], architecture: context.architecture)
/// ```
public final class KernelCache: Sendable {
    public let directory: String
    public let compiler: NVRTCCompiler
    private let counts = Mutex<(hits: Int, misses: Int)>((0, 0))

    /// - Parameters:
    ///   - directory: where the entries live; ``defaultDirectory`` when nil. Created when missing.
    ///   - compiler: the compiler for misses; a new ``NVRTCCompiler`` when nil (throws when NVRTC is absent).
    public init(directory: String? = nil, compiler: NVRTCCompiler? = nil) throws {
        self.directory = directory ?? Self.defaultDirectory
        self.compiler = try compiler ?? NVRTCCompiler()
    }

    /// `$SWITCHYARD_CACHE_DIR`, else `$HOME/.cache/switchyard/kernels`, else `/tmp/switchyard-kernels`.
    public static var defaultDirectory: String {
        if let directory = FileSystem.environment("SWITCHYARD_CACHE_DIR") { return directory }
        if let home = FileSystem.environment("HOME") { return FileSystem.join(home, ".cache/switchyard/kernels") }
        return "/tmp/switchyard-kernels"
    }

    /// How many ``compiled(source:name:headers:options:architecture:)`` calls were answered from disk, and how
    /// many compiled.
    public var statistics: (hits: Int, misses: Int) { counts.withLock { $0 } }

    /// The cached output for these inputs, compiling (and storing) it on a miss. Arguments as in
    /// ``NVRTCCompiler/compile(source:name:headers:options:architecture:)``. A cache folder that cannot be
    /// written only costs the reuse, never the result.
    public func compiled(source: String, name: String, headers: [String: String] = [:], options: [String] = [],
                         architecture: String) throws -> CompiledKernels {
        let key = Self.key(source: source, name: name, headers: headers, options: options,
                           architecture: architecture, compilerVersion: compiler.version)
        let stem = FileSystem.join(directory, "\(Self.fileSafe(name))-\(key.hexadecimal)")
        if let cubin = FileSystem.read(stem + ".cubin"), !cubin.isEmpty, let log = FileSystem.read(stem + ".log") {
            counts.withLock { $0.hits += 1 }
            return CompiledKernels(cubin: cubin, log: String(decoding: log, as: UTF8.self))
        }
        let kernels = try compiler.compile(source: source, name: name, headers: headers, options: options,
                                           architecture: architecture)
        counts.withLock { $0.misses += 1 }
        if FileSystem.createDirectory(directory),
           FileSystem.writeAtomically(Array(kernels.log.utf8), to: stem + ".log") {
            _ = FileSystem.writeAtomically(kernels.cubin, to: stem + ".cubin")
        }
        return kernels
    }

    /// The cache key: FNV-1a 64 over each input, every field preceded by its length so that no two different
    /// inputs serialize alike.
    static func key(source: String, name: String, headers: [String: String], options: [String],
                    architecture: String, compilerVersion: (major: Int, minor: Int)) -> UInt64 {
        var hash = FNV1a64()
        hash.field("switchyard-kernel-cache-v1")
        hash.field(source)
        hash.field(name)
        for (headerName, headerSource) in headers.sorted(by: { $0.key < $1.key }) {
            hash.field(headerName)
            hash.field(headerSource)
        }
        hash.field("options")
        for option in options { hash.field(option) }
        hash.field(architecture)
        hash.field("nvrtc \(compilerVersion.major).\(compilerVersion.minor)")
        return hash.value
    }

    private static func fileSafe(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." ? $0 : "_" })
    }
}

/// The 64-bit Fowler–Noll–Vo (FNV-1a) hash.
struct FNV1a64 {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add<S: Sequence<UInt8>>(_ bytes: S) {
        for byte in bytes { value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
    }

    /// Adds the string's length (8 bytes, little-endian) and then its UTF-8 bytes.
    mutating func field(_ string: String) {
        var length = UInt64(string.utf8.count).littleEndian
        withUnsafeBytes(of: &length) { add($0) }
        add(string.utf8)
    }
}

extension UInt64 {
    /// 16 lowercase hex digits.
    fileprivate var hexadecimal: String {
        let digits = String(self, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
