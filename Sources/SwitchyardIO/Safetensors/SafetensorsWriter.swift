import Switchyard

/// Builds a safetensors file: add tensors (Float tensors stored as F32, BF16 or F64, or raw bytes of any
/// dtype), set metadata, then write.
///
/// ```swift
/// var writer = SafetensorsWriter(metadata: ["format": "pt"])
/// try writer.add("router.weight", router, as: .bfloat16)
/// try writer.write(to: "layer.safetensors")
/// ```
///
/// Data is laid out by decreasing element size so that every tensor is aligned to its element size,
/// and the header is padded with spaces to a multiple of 8 bytes.
public struct SafetensorsWriter {
    /// The `__metadata__` strings.
    public var metadata: [String: String]
    private var entries: [Entry] = []
    private var names = Set<String>()

    private struct Entry {
        var name: String
        var dtype: SafetensorsDType
        var shape: [Int]
        var payload: Payload
        var byteCount: Int { shape.reduce(dtype.byteSize, *) }
    }

    private enum Payload {
        case raw([UInt8])
        case floats([Float])
    }

    public init(metadata: [String: String] = [:]) { self.metadata = metadata }

    /// Adds a Float tensor stored as `dtype`: `.float32` (exact), `.bfloat16` (rounded to nearest even)
    /// or `.float64`.
    public mutating func add(_ name: String, _ tensor: Tensor<Float>, as dtype: SafetensorsDType = .float32) throws {
        guard ElementCoding.floatStorageTypes.contains(dtype) else {
            let allowed = ElementCoding.floatStorageTypes.map(\.rawValue).joined(separator: ", ")
            throw SwitchyardError(.unsupported, "cannot store Float tensor \"\(name)\" as \(dtype.rawValue); allowed: \(allowed)")
        }
        try append(Entry(name: name, dtype: dtype, shape: tensor.shape, payload: .floats(tensor.scalars)))
    }

    /// Adds a tensor given as its little-endian bytes; their count must be shape × dtype size.
    public mutating func add(_ name: String, dtype: SafetensorsDType, shape: [Int], bytes: [UInt8]) throws {
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw SwitchyardError(.shapeMismatch, "tensor \"\(name)\": shape \(shape) has a negative extent")
        }
        let entry = Entry(name: name, dtype: dtype, shape: shape, payload: .raw(bytes))
        guard entry.byteCount == bytes.count else {
            throw SwitchyardError(
                .shapeMismatch,
                "tensor \"\(name)\": shape \(shape) of \(dtype.rawValue) needs \(entry.byteCount) bytes, got \(bytes.count)")
        }
        try append(entry)
    }

    private mutating func append(_ entry: Entry) throws {
        guard !entry.name.isEmpty, entry.name != SafetensorsHeader.metadataKey else {
            throw SwitchyardError(.invalidConfiguration, "a tensor may not be named \"\(entry.name)\"")
        }
        guard names.insert(entry.name).inserted else {
            throw SwitchyardError(.invalidConfiguration, "tensor \"\(entry.name)\" was added twice")
        }
        entries.append(entry)
    }

    /// Writes the file to `path`, replacing any file there.
    public func write(to path: String) throws {
        let file = try FileWriter(path: path)
        try emit { try file.write($0) }
        try file.finish()
    }

    /// The whole file as bytes.
    public func serialized() -> [UInt8] {
        var bytes: [UInt8] = []
        // The sink only appends, so this cannot throw.
        try! emit { bytes.append(contentsOf: $0) }
        return bytes
    }

    private func emit(into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        let order = entries.indices.sorted {
            (entries[$0].dtype.byteSize, $1) > (entries[$1].dtype.byteSize, $0)
        }
        var offsets = [Range<Int>](repeating: 0..<0, count: entries.count)
        var cursor = 0
        for index in order {
            offsets[index] = cursor..<(cursor + entries[index].byteCount)
            cursor += entries[index].byteCount
        }
        var header = Array(headerJSON(offsets: offsets).utf8)
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))
        try withUnsafeBytes(of: UInt64(header.count).littleEndian) { try sink($0) }
        try header.withUnsafeBytes { try sink($0) }
        for index in order {
            switch entries[index].payload {
            case .raw(let bytes): try bytes.withUnsafeBytes { try sink($0) }
            case .floats(let values):
                let chunk = 1 << 20
                for start in stride(from: 0, to: values.count, by: chunk) {
                    let slice = values[start..<min(start + chunk, values.count)]
                    try ElementCoding.encode(slice, as: entries[index].dtype, into: sink)
                }
            }
        }
    }

    private func headerJSON(offsets: [Range<Int>]) -> String {
        var members: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonQuoted($0)):\(jsonQuoted(metadata[$0]!))" }
            members.append("\(jsonQuoted(SafetensorsHeader.metadataKey)):{\(pairs.joined(separator: ","))}")
        }
        for (entry, range) in zip(entries, offsets) {
            let shape = entry.shape.map(String.init).joined(separator: ",")
            members.append(
                "\(jsonQuoted(entry.name)):{\"dtype\":\"\(entry.dtype.rawValue)\",\"shape\":[\(shape)],"
                    + "\"data_offsets\":[\(range.lowerBound),\(range.upperBound)]}")
        }
        return "{" + members.joined(separator: ",") + "}"
    }
}
