import Switchyard

/// One tensor's entry in a safetensors header.
public struct SafetensorsTensorInfo: Sendable, Hashable {
    public var name: String
    public var dtype: SafetensorsDType
    public var shape: [Int]
    /// The tensor's bytes, relative to the start of the data buffer (after the header).
    public var dataOffsets: Range<Int>

    public init(name: String, dtype: SafetensorsDType, shape: [Int], dataOffsets: Range<Int>) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.dataOffsets = dataOffsets
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
}

/// The parsed and checked header of a safetensors file.
struct SafetensorsHeader {
    /// The largest header accepted (the reference implementation's limit), so a corrupt length cannot
    /// make the reader allocate gigabytes.
    static let maximumLength = 100_000_000
    static let metadataKey = "__metadata__"

    var tensors: [SafetensorsTensorInfo]
    var metadata: [String: String]

    /// Reads the 8-byte length prefix; `fileSize` is the size of the whole file. Returns the header length.
    static func headerLength(prefix: [UInt8], fileSize: Int, source: String) throws -> Int {
        guard fileSize >= 8, prefix.count == 8 else {
            throw malformed(source, "file is \(fileSize) bytes; a safetensors file starts with an 8-byte header length")
        }
        let length = prefix.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard length <= UInt64(fileSize - 8) else {
            throw malformed(source, "header length \(length) runs past the end of the file (\(fileSize) bytes)")
        }
        guard length <= UInt64(maximumLength) else {
            throw malformed(source, "header length \(length) exceeds the \(maximumLength)-byte limit")
        }
        guard length >= 2 else { throw malformed(source, "header length \(length) is too short for a JSON object") }
        return Int(length)
    }

    /// Parses and checks the JSON header against a data buffer of `bufferSize` bytes.
    init(json: [UInt8], bufferSize: Int, source: String) throws {
        let root: JSONValue
        do {
            root = try JSONParser.parse(json)
        } catch {
            throw SafetensorsHeader.malformed(
                source, "invalid JSON header at byte \(8 + error.offset): \(error.message)")
        }
        guard let members = root.objectValue else {
            throw SafetensorsHeader.malformed(source, "the header must be a JSON object")
        }
        var tensors: [SafetensorsTensorInfo] = []
        var metadata: [String: String] = [:]
        for (key, value) in members {
            if key == SafetensorsHeader.metadataKey {
                metadata = try SafetensorsHeader.parseMetadata(value, source: source)
            } else {
                tensors.append(try SafetensorsHeader.parseTensor(key, value, bufferSize: bufferSize, source: source))
            }
        }
        try SafetensorsHeader.requireDisjoint(tensors, source: source)
        self.tensors = tensors
        self.metadata = metadata
    }

    static func malformed(_ source: String, _ message: String) -> SwitchyardError {
        SwitchyardError(.malformedFile, "\(source): \(message)")
    }

    private static func parseMetadata(_ value: JSONValue, source: String) throws -> [String: String] {
        guard let members = value.objectValue else {
            throw malformed(source, "\"\(metadataKey)\" must be an object of strings")
        }
        var metadata: [String: String] = [:]
        for (key, item) in members {
            guard let text = item.stringValue else {
                throw malformed(source, "metadata value of \"\(key)\" must be a string")
            }
            metadata[key] = text
        }
        return metadata
    }

    private static func parseTensor(
        _ name: String, _ value: JSONValue, bufferSize: Int, source: String
    ) throws -> SafetensorsTensorInfo {
        func bad(_ message: String) -> SwitchyardError { malformed(source, "tensor \"\(name)\": \(message)") }
        guard value.objectValue != nil else { throw bad("entry must be an object with dtype, shape, data_offsets") }
        guard let dtypeName = value["dtype"]?.stringValue else { throw bad("missing string \"dtype\"") }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            throw bad("unknown dtype \"\(dtypeName)\"; allowed: \(SafetensorsDType.allowedList)")
        }
        guard let shapeItems = value["shape"]?.arrayValue else { throw bad("missing array \"shape\"") }
        let shape = shapeItems.compactMap { $0.intValue }
        guard shape.count == shapeItems.count, shape.allSatisfy({ $0 >= 0 }) else {
            throw bad("shape must hold non-negative integers")
        }
        guard let offsetItems = value["data_offsets"]?.arrayValue, offsetItems.count == 2,
            let begin = offsetItems[0].intValue, let end = offsetItems[1].intValue
        else { throw bad("\"data_offsets\" must be [begin, end] integers") }
        guard 0 <= begin, begin <= end, end <= bufferSize else {
            throw bad("data_offsets [\(begin), \(end)] fall outside the \(bufferSize)-byte data buffer")
        }
        var bytes = dtype.byteSize
        for extent in shape {
            let (product, overflow) = bytes.multipliedReportingOverflow(by: extent)
            guard !overflow else { throw bad("shape \(shape) is too large") }
            bytes = product
        }
        guard end - begin == bytes else {
            throw bad(
                "data_offsets [\(begin), \(end)] span \(end - begin) bytes; shape \(shape) of \(dtype.rawValue) needs \(bytes)")
        }
        return SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }

    private static func requireDisjoint(_ tensors: [SafetensorsTensorInfo], source: String) throws {
        let ordered = tensors.filter { !$0.dataOffsets.isEmpty }.sorted { $0.dataOffsets.lowerBound < $1.dataOffsets.lowerBound }
        for (previous, next) in zip(ordered, ordered.dropFirst()) where next.dataOffsets.lowerBound < previous.dataOffsets.upperBound {
            throw malformed(
                source,
                "tensors \"\(previous.name)\" [\(previous.dataOffsets.lowerBound), \(previous.dataOffsets.upperBound)] and "
                    + "\"\(next.name)\" [\(next.dataOffsets.lowerBound), \(next.dataOffsets.upperBound)] overlap")
        }
    }
}
