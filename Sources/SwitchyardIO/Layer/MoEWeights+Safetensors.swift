#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Switchyard

extension MoEWeights where Scalar == Float {
    /// Saves the layer in Switchyard's own safetensors layout (``LayerTensorNames``), with the `MoEConfig`
    /// as JSON in the metadata. Stored as F32 (the default) the file reloads bit for bit.
    ///
    /// ```swift
    /// let weights = MoEWeights<Float>.random(config: config, seed: 0)
    /// try weights.save(to: "layer.safetensors")
    /// let again = try MoEWeights<Float>(contentsOf: "layer.safetensors")   // again == weights
    /// ```
    public func save(to path: String, as dtype: SafetensorsDType = .float32) throws {
        try safetensorsWriter(as: dtype).write(to: path)
    }

    /// A writer holding this layer's tensors and metadata, to add more tensors or serialize in memory.
    public func safetensorsWriter(as dtype: SafetensorsDType = .float32) throws -> SafetensorsWriter {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let configJSON = String(decoding: try encoder.encode(config), as: UTF8.self)
        var writer = SafetensorsWriter(metadata: [
            LayerTensorNames.formatKey: LayerTensorNames.layerFormat, LayerTensorNames.configKey: configJSON,
        ])
        try writer.add(LayerTensorNames.router, router, as: dtype)
        try writer.add(LayerTensorNames.routerBias, routerBias, as: dtype)
        try writer.add(LayerTensorNames.w1, w1, as: dtype)
        try writer.add(LayerTensorNames.w2, w2, as: dtype)
        if config.sharedExperts > 0 {
            try writer.add(LayerTensorNames.sharedW1, sharedW1, as: dtype)
            try writer.add(LayerTensorNames.sharedW2, sharedW2, as: dtype)
        }
        return writer
    }

    /// Loads a layer saved by ``save(to:as:)``.
    public init(contentsOf path: String) throws {
        try self.init(safetensors: SafetensorsFile(path: path))
    }

    /// Reads a layer from an open Switchyard layer file; throws `malformedFile` when the metadata lacks
    /// the configuration, and `shapeMismatch` when a tensor's shape disagrees with it.
    public init(safetensors file: SafetensorsFile) throws {
        guard let configJSON = file.metadata[LayerTensorNames.configKey] else {
            throw SwitchyardError(
                .malformedFile,
                "\(file.source): no \"\(LayerTensorNames.configKey)\" metadata; not a Switchyard layer file "
                    + "(for a Hugging Face checkpoint use HFCheckpoint)")
        }
        let config: MoEConfig
        do {
            config = try JSONDecoder().decode(MoEConfig.self, from: Data(configJSON.utf8))
        } catch {
            throw SwitchyardError(.malformedFile, "\(file.source): the layer configuration is not valid: \(error)")
        }
        try config.validate()
        let hasShared = config.sharedExperts > 0
        try self.init(
            config: config, router: file.tensor(LayerTensorNames.router),
            routerBias: file.tensor(LayerTensorNames.routerBias), w1: file.tensor(LayerTensorNames.w1),
            w2: file.tensor(LayerTensorNames.w2),
            sharedW1: hasShared ? file.tensor(LayerTensorNames.sharedW1) : nil,
            sharedW2: hasShared ? file.tensor(LayerTensorNames.sharedW2) : nil)
    }
}
