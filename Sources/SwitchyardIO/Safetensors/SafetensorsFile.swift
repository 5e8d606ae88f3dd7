import Switchyard

/// A safetensors file opened for reading: the header is parsed and checked up front, tensor data is read
/// on demand, so loading one layer of a large checkpoint reads only that layer's bytes.
///
/// ```swift
/// let file = try SafetensorsFile(path: "layer.safetensors")
/// let router = try file.tensor("router.weight")        // any float dtype, as Tensor<Float>
/// print(file.metadata["format"] ?? "")
/// ```
///
/// Every defect of the file (too short, header length past the end, invalid JSON, unknown dtype, offsets
/// out of range, overlapping or not matching shape × dtype size, a name given twice, a name asked for but
/// absent) throws ``SwitchyardError`` of kind `malformedFile` naming the file and the defect.
public struct SafetensorsFile: Sendable {
    /// The file's path, or a label for an in-memory file.
    public let source: String
    /// Tensors in header order.
    public let tensors: [SafetensorsTensorInfo]
    /// The `__metadata__` strings.
    public let metadata: [String: String]
    private let indexByName: [String: Int]
    private let dataStart: Int
    private let storage: Storage

    private enum Storage: Sendable {
        case memory([UInt8])
        case file(ReadOnlyFile)
    }

    /// Opens `path` and reads its header.
    public init(path: String) throws {
        let file = try ReadOnlyFile(path: path)
        let prefix = try file.read(offset: 0, count: min(8, file.size))
        let length = try SafetensorsHeader.headerLength(prefix: prefix, fileSize: file.size, source: path)
        let json = try file.read(offset: 8, count: length)
        let header = try SafetensorsHeader(json: json, bufferSize: file.size - 8 - length, source: path)
        self.init(source: path, header: header, dataStart: 8 + length, storage: .file(file))
    }

    /// Parses a whole file held in memory; `source` labels it in error messages.
    public init(bytes: [UInt8], source: String = "<memory>") throws {
        let prefix = Array(bytes.prefix(8))
        let length = try SafetensorsHeader.headerLength(prefix: prefix, fileSize: bytes.count, source: source)
        let json = Array(bytes[8..<(8 + length)])
        let header = try SafetensorsHeader(json: json, bufferSize: bytes.count - 8 - length, source: source)
        self.init(source: source, header: header, dataStart: 8 + length, storage: .memory(bytes))
    }

    private init(source: String, header: SafetensorsHeader, dataStart: Int, storage: Storage) {
        self.source = source
        self.tensors = header.tensors
        self.metadata = header.metadata
        self.indexByName = Dictionary(uniqueKeysWithValues: header.tensors.enumerated().map { ($1.name, $0) })
        self.dataStart = dataStart
        self.storage = storage
    }

    /// Tensor names in header order.
    public var names: [String] { tensors.map(\.name) }

    public func contains(_ name: String) -> Bool { indexByName[name] != nil }

    /// The header entry of `name`; throws `malformedFile` when the file has no such tensor.
    public func info(_ name: String) throws -> SafetensorsTensorInfo {
        guard let index = indexByName[name] else {
            let shown = names.prefix(8).joined(separator: ", ") + (names.count > 8 ? ", …" : "")
            throw SafetensorsHeader.malformed(
                source, "no tensor named \"\(name)\" (the file holds \(names.count): \(shown))")
        }
        return tensors[index]
    }

    /// The tensor's bytes exactly as stored (little-endian elements).
    public func rawBytes(_ name: String) throws -> [UInt8] {
        let entry = try info(name)
        let begin = dataStart + entry.dataOffsets.lowerBound
        switch storage {
        case .memory(let bytes): return Array(bytes[begin..<(begin + entry.dataOffsets.count)])
        case .file(let file): return try file.read(offset: begin, count: entry.dataOffsets.count)
        }
    }

    /// The elements of `name` converted to Float, whatever the stored dtype.
    public func floats(_ name: String) throws -> [Float] {
        ElementCoding.floats(try rawBytes(name), dtype: try info(name).dtype)
    }

    /// The tensor `name` as a `Tensor<Float>` with its stored shape.
    public func tensor(_ name: String) throws -> Tensor<Float> {
        try Tensor(shape: info(name).shape, scalars: floats(name))
    }

    /// The elements of an integer or BOOL tensor, exactly; throws `unsupported` for float dtypes.
    public func integers(_ name: String) throws -> [Int64] {
        let entry = try info(name)
        guard let values = try ElementCoding.integers(rawBytes(name), dtype: entry.dtype) else {
            throw SwitchyardError(
                .unsupported, "\(source): tensor \"\(name)\" is \(entry.dtype.rawValue), not an integer type in Int64 range")
        }
        return values
    }
}
