import Switchyard
import SwitchyardIO
import Testing

struct SafetensorsRoundTripTests {
    /// Every dtype's bytes come back exactly, with their dtype and shape, from memory and from disk.
    @Test(arguments: SafetensorsDType.allCases)
    func rawBytesRoundTrip(dtype: SafetensorsDType) throws {
        var generator = SeededGenerator(seed: 7)
        let shape = [3, 5]
        let payload = (0..<(15 * dtype.byteSize)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        var writer = SafetensorsWriter(metadata: ["dtype": dtype.rawValue])
        try writer.add("lead", Tensor<Float>(shape: [1], scalars: [0.5]), as: .bfloat16)
        try writer.add("x", dtype: dtype, shape: shape, bytes: payload)
        let directory = TemporaryDirectory()
        try writer.write(to: directory.file("t.safetensors"))
        for file in [try SafetensorsFile(bytes: writer.serialized()), try SafetensorsFile(path: directory.file("t.safetensors"))] {
            let info = try file.info("x")
            #expect(info.dtype == dtype)
            #expect(info.shape == shape)
            #expect(try file.rawBytes("x") == payload)
            #expect(file.metadata == ["dtype": dtype.rawValue])
            #expect(try file.floats("lead") == [0.5])
        }
    }

    @Test func float32StorageIsBitExact() throws {
        var generator = SeededGenerator(seed: 1)
        var tensor = randomTensor([4, 6], &generator)
        tensor.scalars[0] = -0.0
        tensor.scalars[1] = .leastNonzeroMagnitude
        tensor.scalars[2] = .greatestFiniteMagnitude
        tensor.scalars[3] = .infinity
        var writer = SafetensorsWriter()
        try writer.add("t", tensor)
        let back = try SafetensorsFile(bytes: writer.serialized()).tensor("t")
        #expect(back.shape == tensor.shape)
        #expect(back.scalars.map(\.bitPattern) == tensor.scalars.map(\.bitPattern))
    }

    /// BF16 storage keeps the high 16 bits rounded to nearest even: checked bit by bit against hand-made patterns.
    @Test func bfloat16StorageRoundsToNearestEven() throws {
        let inputs: [Float] = [
            Float(bitPattern: 0x3F80_8000),  // exactly halfway, even below: 1.0
            Float(bitPattern: 0x3F81_8000),  // halfway, odd below: rounds up to 0x3F82
            Float(bitPattern: 0x3F80_8001),  // just above halfway: up
            -2.5,
        ]
        var writer = SafetensorsWriter()
        try writer.add("t", Tensor(shape: [4], scalars: inputs), as: .bfloat16)
        let file = try SafetensorsFile(bytes: writer.serialized())
        #expect(try file.info("t").dtype == .bfloat16)
        #expect(try file.rawBytes("t") == [0x80, 0x3F, 0x82, 0x3F, 0x81, 0x3F, 0x20, 0xC0])
        #expect(try file.floats("t") == [1.0, Float(bitPattern: 0x3F82_0000), Float(bitPattern: 0x3F81_0000), -2.5])
    }

    @Test func float64StorageWidensExactly() throws {
        var generator = SeededGenerator(seed: 2)
        let tensor = randomTensor([7], &generator)
        var writer = SafetensorsWriter()
        try writer.add("t", tensor, as: .float64)
        let file = try SafetensorsFile(bytes: writer.serialized())
        #expect(try file.info("t").dtype == .float64)
        #expect(try file.tensor("t") == tensor)
    }

    /// Hand-computed IEEE half patterns: normal, subnormal, largest, infinity, NaN.
    @Test func float16Decoding() throws {
        let patterns: [UInt16] = [0x3C00, 0xC000, 0x3555, 0x0001, 0x03FF, 0x7BFF, 0xFC00, 0x7E00, 0x8000]
        var writer = SafetensorsWriter()
        try writer.add("h", dtype: .float16, shape: [patterns.count], bytes: patterns.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
        let values = try SafetensorsFile(bytes: writer.serialized()).floats("h")
        let expected: [Float] = [1, -2, 0.333251953125, 0x1p-24, 1023 * 0x1p-24, 65504, -.infinity]
        #expect(Array(values.prefix(7)) == expected)
        #expect(values[7].isNaN)
        #expect(values[8] == 0 && values[8].sign == .minus)
    }

    /// E8M0 scales are powers of two 2^(bits − 127); 0xFF is NaN.
    @Test func e8m0Decoding() throws {
        var writer = SafetensorsWriter()
        try writer.add("s", dtype: .float8E8M0, shape: [4], bytes: [127, 130, 0, 0xFF])
        let values = try SafetensorsFile(bytes: writer.serialized()).floats("s")
        #expect(Array(values.prefix(3)) == [1, 8, 0x1p-127])
        #expect(values[3].isNaN)
    }

    @Test func layoutIsAlignedAndHeaderPadded() throws {
        var writer = SafetensorsWriter(metadata: ["a": "quote\" and \\ and \n newline"])
        try writer.add("small", dtype: .uint8, shape: [3], bytes: [1, 2, 3])
        try writer.add("wide", Tensor<Float>(shape: [2], scalars: [1, 2]), as: .float64)
        try writer.add("mid", Tensor<Float>(shape: [1], scalars: [3]))
        let bytes = writer.serialized()
        let headerLength = bytes.prefix(8).reversed().reduce(0) { $0 << 8 | Int($1) }
        #expect((8 + headerLength) % 8 == 0)
        let file = try SafetensorsFile(bytes: bytes)
        for info in file.tensors { #expect(info.dataOffsets.lowerBound % info.dtype.byteSize == 0) }
        #expect(file.names == ["small", "wide", "mid"])
        #expect(file.metadata["a"] == "quote\" and \\ and \n newline")
        #expect(try file.floats("wide") == [1, 2])
    }

    @Test func writerRejectsBadInput() throws {
        var writer = SafetensorsWriter()
        try writer.add("x", Tensor<Float>(shape: [1], scalars: [1]))
        #expect(throws: SwitchyardError.self) { try writer.add("x", Tensor<Float>(shape: [1], scalars: [1])) }
        #expect(throws: SwitchyardError.self) { try writer.add("__metadata__", Tensor<Float>(shape: [1], scalars: [1])) }
        #expect(throws: SwitchyardError.self) { try writer.add("y", dtype: .float32, shape: [2], bytes: [0, 0, 0, 0]) }
        #expect(throws: SwitchyardError.self) { try writer.add("z", Tensor<Float>(shape: [1], scalars: [1]), as: .int32) }
    }
}
