import Foundation
import Testing
@testable import SwitchyardCUDA

@Suite("kernel cache")
struct KernelCacheTests {
    static let source = "extern \"C\" __global__ void add_one(float *x) { x[threadIdx.x] += 1.0f; }\n"

    @Test("the second compile is a hit with the same bytes; changed options miss",
          .enabled(if: TestEnvironment.nvrtcEnabled, TestEnvironment.nvrtcSkipReason))
    func hitsAndMisses() throws {
        let directory = try TestEnvironment.temporaryDirectory("cache")
        defer { try? FileManager.default.removeItem(at: directory) }
        let cache = try KernelCache(directory: directory.path + "/nested/kernels")

        let first = try cache.compiled(source: Self.source, name: "add one.cu", architecture: "sm_90a")
        #expect(cache.statistics == (hits: 0, misses: 1))
        let second = try cache.compiled(source: Self.source, name: "add one.cu", architecture: "sm_90a")
        #expect(cache.statistics == (hits: 1, misses: 1))
        #expect(second.cubin == first.cubin)
        #expect(second.resources == first.resources)
        #expect(second.resources["add_one"] != nil)

        let files = try FileManager.default.contentsOfDirectory(atPath: cache.directory)
        #expect(files.count == 2)
        #expect(files.allSatisfy { $0.hasPrefix("add_one.cu-") })

        _ = try cache.compiled(source: Self.source, name: "add one.cu", options: ["-lineinfo"], architecture: "sm_90a")
        #expect(cache.statistics == (hits: 1, misses: 2))

        let fresh = try KernelCache(directory: cache.directory)
        let reread = try fresh.compiled(source: Self.source, name: "add one.cu", architecture: "sm_90a")
        #expect(fresh.statistics == (hits: 1, misses: 0))
        #expect(reread.cubin == first.cubin)
    }

    @Test("the key changes with every input and with nothing else")
    func keyCoversEveryInput() {
        func key(source: String = "s", name: String = "n", headers: [String: String] = ["h": "1"],
                 options: [String] = ["-a"], architecture: String = "sm_90a",
                 version: (Int, Int) = (13, 0)) -> UInt64 {
            KernelCache.key(source: source, name: name, headers: headers, options: options,
                            architecture: architecture, compilerVersion: version)
        }
        let base = key()
        #expect(key() == base)
        let variants = [
            key(source: "t"), key(name: "m"), key(headers: ["h": "2"]), key(headers: ["g": "1"]), key(headers: [:]),
            key(options: []), key(options: ["-a", "-b"]), key(architecture: "sm_100a"), key(version: (13, 1)),
            key(source: "sn", name: ""),
        ]
        #expect(Set(variants).count == variants.count)
        #expect(!variants.contains(base))
    }

    @Test("FNV-1a 64 matches the published test vectors")
    func fnvVectors() {
        var empty = FNV1a64()
        empty.add([UInt8]())
        #expect(empty.value == 0xcbf2_9ce4_8422_2325)
        var a = FNV1a64()
        a.add(Array("a".utf8))
        #expect(a.value == 0xaf63_dc4c_8601_ec8c)
        var foobar = FNV1a64()
        foobar.add(Array("foobar".utf8))
        #expect(foobar.value == 0x8594_4171_f739_67e8)
    }
}
