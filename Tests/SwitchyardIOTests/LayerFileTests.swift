#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Switchyard
import SwitchyardFormats
import SwitchyardIO
import Testing

struct LayerFileTests {
    private static let configs: [MoEConfig] = [
        try! MoEConfig(hidden: 8, intermediate: 4, experts: 4, topK: 2),
        try! MoEConfig(
            hidden: 16, intermediate: 8, experts: 8, topK: 3,
            router: RouterConfig(
                kind: .sigmoidBias(groups: 4, topKGroups: 2, scaling: 2.5), capacityFactor: 1.25,
                tokenRounding: TokenRounding(tile: 16, mode: .up), auxLossCoefficient: 0.01, zLossCoefficient: 0.001),
            sharedExperts: 2, sharedIntermediate: 6),
        try! MoEConfig(hidden: 8, intermediate: 4, experts: 4, topK: 1, activation: .reluSquared, router: RouterConfig(kind: .mixtral)),
    ]

    @Test(arguments: configs.indices)
    func saveThenLoadIsBitIdentical(index: Int) throws {
        let weights = MoEWeights<Float>.random(config: Self.configs[index], seed: UInt64(index))
        let directory = TemporaryDirectory()
        try weights.save(to: directory.file("layer.safetensors"))
        let loaded = try MoEWeights<Float>(contentsOf: directory.file("layer.safetensors"))
        #expect(loaded.config == weights.config)
        for (a, b) in [(loaded.router, weights.router), (loaded.routerBias, weights.routerBias), (loaded.w1, weights.w1),
                       (loaded.w2, weights.w2), (loaded.sharedW1, weights.sharedW1), (loaded.sharedW2, weights.sharedW2)] {
            #expect(a.shape == b.shape)
            #expect(a.scalars.map(\.bitPattern) == b.scalars.map(\.bitPattern))
        }
        let file = try SafetensorsFile(path: directory.file("layer.safetensors"))
        #expect(file.metadata["format"] == "switchyard.moe-layer")
        #expect(try file.info("experts.w1").shape == weights.w1.shape)
        #expect(try file.info("router.weight").dtype == .float32)
    }

    @Test func bfloat16StorageRoundsEveryWeight() throws {
        let weights = MoEWeights<Float>.random(config: Self.configs[0], seed: 4)
        let file = try SafetensorsFile(bytes: weights.safetensorsWriter(as: .bfloat16).serialized())
        let loaded = try MoEWeights<Float>(safetensors: file)
        #expect(loaded.w1.scalars == weights.w1.scalars.map(roundedToBFloat16))
        #expect(loaded.w2.scalars == weights.w2.scalars.map(roundedToBFloat16))
        #expect(loaded.router.scalars == weights.router.scalars.map(roundedToBFloat16))
    }

    @Test func fileWithoutConfigIsNotALayer() throws {
        var writer = SafetensorsWriter()
        try writer.add("router.weight", Tensor<Float>(zeros: [8, 4]))
        let error = try #require(throws: SwitchyardError.self) {
            try MoEWeights<Float>(safetensors: SafetensorsFile(bytes: writer.serialized(), source: "x"))
        }
        #expect(error.kind == .malformedFile && error.message.contains("not a Switchyard layer file"))
    }

    @Test func tensorDisagreeingWithConfigIsAShapeMismatch() throws {
        let weights = MoEWeights<Float>.random(config: Self.configs[0], seed: 1)
        var config = weights.config
        config.experts = 5
        var broken = try weights.safetensorsWriter()
        broken.metadata["switchyard.config"] = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
        let error = try #require(throws: SwitchyardError.self) {
            try MoEWeights<Float>(safetensors: SafetensorsFile(bytes: broken.serialized()))
        }
        #expect(error.kind == .shapeMismatch)
    }

    @Test func gradientsAndSingleTensorFiles() throws {
        var g = SeededGenerator(seed: 2)
        let config = Self.configs[1]
        let gradients = LayerGradients<Float>(
            input: randomTensor([5, 16], &g), router: randomTensor([16, 8], &g), w1: randomTensor([8, 16, 16], &g),
            w2: randomTensor([8, 8, 16], &g), sharedW1: randomTensor([2, 16, 12], &g), sharedW2: randomTensor([2, 6, 16], &g),
            scores: randomTensor([5, 3], &g))
        var writer = SafetensorsWriter()
        try writer.addGradients(gradients, sharedExperts: config.sharedExperts)
        let file = try SafetensorsFile(bytes: writer.serialized())
        #expect(file.names == ["grad.input", "grad.router.weight", "grad.experts.w1", "grad.experts.w2", "grad.shared.w1", "grad.shared.w2"])
        #expect(try file.tensor("grad.experts.w2") == gradients.w2)
        #expect(try file.tensor(preferring: "grad.input") == gradients.input)
        #expect(throws: SwitchyardError.self) { try file.tensor(preferring: "input") }

        var single = SafetensorsWriter()
        try single.add("activations", gradients.input)
        #expect(try SafetensorsFile(bytes: single.serialized()).tensor(preferring: "input") == gradients.input)
    }
}
