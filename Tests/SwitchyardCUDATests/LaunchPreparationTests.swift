import Testing
import Switchyard
@testable import SwitchyardCUDA

@Suite("launch preparation without a GPU")
struct LaunchPreparationTests {
    @Test("kernel arguments are laid out with their alignment and read back through the parameter pointers")
    func argumentLayout() {
        var arguments = KernelArguments()
        arguments.append(Int32(-7))
        arguments.append(UInt64(0x1122_3344_5566_7788))
        arguments.append(Float(1.5))
        let map = TensorMap(words: (0..<16).map { UInt64($0) * 0x0101_0101 })
        arguments.append(map)
        arguments.append(UInt32(9))
        #expect(arguments.count == 5)
        arguments.withParameterPointers { parameters in
            guard let parameters else { Issue.record("no parameter array"); return }
            #expect(parameters[0]!.load(as: Int32.self) == -7)
            #expect(Int(bitPattern: parameters[1]!) % 8 == 0)
            #expect(parameters[1]!.load(as: UInt64.self) == 0x1122_3344_5566_7788)
            #expect(parameters[2]!.load(as: Float.self) == 1.5)
            #expect(Int(bitPattern: parameters[3]!) % 64 == 0)
            #expect((0..<16).map { parameters[3]!.load(fromByteOffset: $0 * 8, as: UInt64.self) } == map.words)
            #expect(parameters[4]!.load(as: UInt32.self) == 9)
        }
    }

    @Test("architecture names: sm_90a for Hopper, sm_100a for Blackwell, plain otherwise")
    func architectureNames() {
        #expect(CUDAContext.architecture(major: 9, minor: 0) == "sm_90a")
        #expect(CUDAContext.architecture(major: 10, minor: 0) == "sm_100a")
        #expect(CUDAContext.architecture(major: 8, minor: 9) == "sm_89")
        #expect(CUDAContext.architecture(major: 12, minor: 0) == "sm_120")
    }

    @Test("tensor map shapes that break a TMA rule are refused with the rule", arguments: [
        (address: UInt64(8), rows: 64, columns: 64, stride: 128, boxRows: 64, boxColumns: 64, rule: "16-byte aligned"),
        (address: 0, rows: 0, columns: 64, stride: 128, boxRows: 64, boxColumns: 64, rule: ">= 1"),
        (address: 0, rows: 64, columns: 64, stride: 136, boxRows: 64, boxColumns: 64, rule: "multiple of 16"),
        (address: 0, rows: 64, columns: 64, stride: 64, boxRows: 64, boxColumns: 64, rule: "shorter than a row"),
        (address: 0, rows: 64, columns: 64, stride: 128, boxRows: 512, boxColumns: 64, rule: "1...256"),
        (address: 0, rows: 64, columns: 64, stride: 128, boxRows: 64, boxColumns: 4, rule: "multiple of 16 bytes"),
        (address: 0, rows: 64, columns: 256, stride: 512, boxRows: 64, boxColumns: 128, rule: "at most 128 bytes"),
    ])
    func tensorMapRules(address: UInt64, rows: Int, columns: Int, stride: Int, boxRows: Int, boxColumns: Int,
                        rule: String) throws {
        let error = try #require(throws: SwitchyardError.self) {
            try TensorMap.validate(address: address, dtype: .bf16, rows: rows, columns: columns, rowStrideBytes: stride,
                                   boxRows: boxRows, boxColumns: boxColumns, swizzle128B: true)
        }
        #expect(error.message.contains(rule))
    }

    @Test("a valid bf16 tile passes the tensor map rules")
    func tensorMapValid() throws {
        try TensorMap.validate(address: 1 << 20, dtype: .bf16, rows: 4096, columns: 7168, rowStrideBytes: 7168 * 2,
                               boxRows: 128, boxColumns: 64, swizzle128B: true)
        try TensorMap.validate(address: 1 << 20, dtype: .fp8, rows: 3, columns: 16, rowStrideBytes: 16,
                               boxRows: 3, boxColumns: 16, swizzle128B: false)
    }
}
