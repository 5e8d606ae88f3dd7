/// The output of one NVRTC compile: the cubin, the compiler's log and the per-kernel resources ptxas reported.
public struct CompiledKernels: Sendable, Equatable {
    /// The cubin, ready for ``CUDAModule/init(context:cubin:)``.
    public var cubin: [UInt8]
    /// NVRTC's log: warnings and the `ptxas info` lines.
    public var log: String
    /// Resources by function name (as ptxas prints it: the `extern "C"` name or the mangled one).
    public var resources: [String: KernelResources]

    public init(cubin: [UInt8], log: String) {
        self.cubin = cubin
        self.log = log
        self.resources = KernelResources.parse(ptxasLog: log)
    }
}

/// What ptxas reported for one function with `-v`: registers, spills, stack and static shared memory.
public struct KernelResources: Sendable, Equatable {
    public var registers: Int
    public var spillStoreBytes: Int
    public var spillLoadBytes: Int
    public var stackFrameBytes: Int
    /// Static shared memory (`smem`) in bytes.
    public var sharedBytes: Int

    public init(registers: Int = 0, spillStoreBytes: Int = 0, spillLoadBytes: Int = 0, stackFrameBytes: Int = 0,
                sharedBytes: Int = 0) {
        self.registers = registers
        self.spillStoreBytes = spillStoreBytes
        self.spillLoadBytes = spillLoadBytes
        self.stackFrameBytes = stackFrameBytes
        self.sharedBytes = sharedBytes
    }

    /// True when ptxas spilled registers to local memory (a performance bug in a GEMM kernel).
    public var spills: Bool { spillStoreBytes > 0 || spillLoadBytes > 0 }

    /// Reads the `ptxas info` lines of a `-Xptxas=-v` log:
    ///
    ///     ptxas info    : Compiling entry function 'scale' for 'sm_90a'
    ///     ptxas info    : Function properties for scale
    ///         8 bytes stack frame, 4 bytes spill stores, 4 bytes spill loads
    ///     ptxas info    : Used 12 registers, used 1 barriers, 1024 bytes smem, 368 bytes cmem[0]
    ///
    /// Entry functions and non-inlined device functions both appear (the latter without a `Used` line).
    public static func parse(ptxasLog log: String) -> [String: KernelResources] {
        var resources: [String: KernelResources] = [:]
        var entry: String?
        var properties: String?
        for rawLine in log.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingSpaces
            if let name = line.text(after: "Compiling entry function '", before: "'") {
                entry = name
                if resources[name] == nil { resources[name] = KernelResources() }
            } else if let name = line.text(after: "Function properties for ", before: nil) {
                properties = name
                if resources[name] == nil { resources[name] = KernelResources() }
            } else if line.contains("bytes stack frame"), let name = properties {
                resources[name]?.stackFrameBytes = line.number(before: " bytes stack frame") ?? 0
                resources[name]?.spillStoreBytes = line.number(before: " bytes spill stores") ?? 0
                resources[name]?.spillLoadBytes = line.number(before: " bytes spill loads") ?? 0
                properties = nil
            } else if line.contains("Used "), line.contains(" registers"), let name = entry {
                resources[name]?.registers = line.number(before: " registers") ?? 0
                resources[name]?.sharedBytes = line.number(before: " bytes smem") ?? 0
                entry = nil
            }
        }
        return resources
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return self[endIndex...]
        }
        return self[first...last]
    }

    /// The text between `prefix` and the next `terminator` (or the line's end), nil when `prefix` is absent.
    fileprivate func text(after prefix: String, before terminator: Character?) -> String? {
        guard let start = firstRange(of: prefix)?.upperBound else { return nil }
        let rest = self[start...]
        let end = terminator.flatMap { rest.firstIndex(of: $0) } ?? rest.endIndex
        return String(rest[..<end])
    }

    /// The integer right before `suffix`, as in "368 bytes cmem"; nil when `suffix` is absent.
    fileprivate func number(before suffix: String) -> Int? {
        guard let end = firstRange(of: suffix)?.lowerBound else { return nil }
        let digits = self[..<end].reversed().prefix(while: \.isNumber)
        return Int(String(digits.reversed()))
    }
}
