import Switchyard

/// A Hugging Face checkpoint: one or more `.safetensors` shards and, when present, its `config.json`.
///
/// Opening reads only the shards' headers; ``loadMoELayer(_:architecture:)`` then reads the tensors of one
/// decoder layer's MoE block and maps them into Switchyard's layout (name table: `docs/checkpoints.md`).
///
/// ```swift
/// let checkpoint = try HFCheckpoint(directory: "/models/Qwen3-30B-A3B")
/// let layer = try checkpoint.loadMoELayer(12, architecture: .qwen3)
/// print(layer.config.experts, layer.config.topK)       // 128 8
/// ```
public struct HFCheckpoint: Sendable {
    /// The shards, in the order given (or sorted by name for a directory).
    public let shards: [SafetensorsFile]
    /// The parsed `config.json`, when there is one.
    let config: JSONValue?
    private let shardOfTensor: [String: Int]

    /// Opens every `*.safetensors` file in `directory`, and `config.json` there if present.
    public init(directory: String) throws {
        guard FileSystem.isDirectory(directory) else {
            throw SwitchyardError(.io, "\(directory) is not a directory")
        }
        let names = try FileSystem.contents(of: directory).filter { $0.hasSuffix(".safetensors") }
        guard !names.isEmpty else { throw SwitchyardError(.io, "\(directory) holds no .safetensors files") }
        let configPath = FileSystem.join(directory, "config.json")
        try self.init(
            files: names.map { FileSystem.join(directory, $0) },
            configPath: FileSystem.exists(configPath) ? configPath : nil)
    }

    /// Opens the given shards; `configPath` names a `config.json` to read sizes and router settings from.
    /// A single path that is a directory is opened as ``init(directory:)`` does.
    public init(files: [String], configPath: String? = nil) throws {
        if files.count == 1, configPath == nil, FileSystem.isDirectory(files[0]) {
            try self.init(directory: files[0])
            return
        }
        guard !files.isEmpty else { throw SwitchyardError(.io, "no checkpoint files given") }
        let shards = try files.map { try SafetensorsFile(path: $0) }
        let config = try configPath.map { try HFCheckpoint.readConfig($0) }
        try self.init(shards: shards, config: config)
    }

    init(shards: [SafetensorsFile], config: JSONValue?) throws {
        var shardOfTensor: [String: Int] = [:]
        for (index, shard) in shards.enumerated() {
            for name in shard.names {
                if let other = shardOfTensor.updateValue(index, forKey: name) {
                    throw SwitchyardError(
                        .malformedFile, "tensor \"\(name)\" appears in both \(shards[other].source) and \(shard.source)")
                }
            }
        }
        self.shards = shards
        self.config = config
        self.shardOfTensor = shardOfTensor
    }

    private static func readConfig(_ path: String) throws -> JSONValue {
        let value: JSONValue
        do {
            value = try JSONParser.parse(FileSystem.readAll(path))
        } catch let failure as JSONParser.Failure {
            throw SwitchyardError(.malformedFile, "\(path): invalid JSON at byte \(failure.offset): \(failure.message)")
        }
        guard value.objectValue != nil else { throw SwitchyardError(.malformedFile, "\(path): must be a JSON object") }
        return value
    }

    /// Every tensor name in all shards.
    public var tensorNames: [String] { shards.flatMap(\.names) }

    public func contains(_ name: String) -> Bool { shardOfTensor[name] != nil }

    /// The header entry of `name`; throws `malformedFile` naming the tensor when no shard holds it.
    public func info(_ name: String) throws -> SafetensorsTensorInfo {
        try shard(of: name).info(name)
    }

    /// The tensor `name` as Float, from whichever shard holds it.
    public func tensor(_ name: String) throws -> Tensor<Float> {
        try shard(of: name).tensor(name)
    }

    private func shard(of name: String) throws -> SafetensorsFile {
        guard let index = shardOfTensor[name] else {
            let sources = shards.map(\.source).joined(separator: ", ")
            throw SwitchyardError(.malformedFile, "no tensor named \"\(name)\" in the checkpoint (\(sources))")
        }
        return shards[index]
    }
}
