#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Switchyard
import Testing
@testable import SwitchyardModel

@Suite struct HardwareTests {
    @Test func namedParts() throws {
        #expect(Hardware.named("h100")?.smCount == 132)
        #expect(Hardware.named("H100-SXM")?.name == "H100 SXM")
        #expect(Hardware.named("gb200")?.nvlinkDomain == 72)
        #expect(Hardware.named("a100") == nil)
        for part in Hardware.all {
            #expect(part.ceilings.bf16GEMMFLOPS < part.bf16FLOPS)
            #expect(part.ceilings.copyBandwidth < part.memoryBandwidth)
            // vendor sheets round each figure on its own: 1979 vs 2 × 989.4 on Hopper
            #expect(abs(part.fp8FLOPS / part.bf16FLOPS - 2) < 1e-3)
        }
    }

    @Test func jsonOverridesCeilingsAndCalibration() throws {
        let path = "/tmp/switchyard-model-test-\(UInt64.random(in: 0...UInt64.max)).json"
        let text = """
            { "hardware": "h100", "ceilings": { "bf16GEMMFLOPS": 7.0e14, "copyBandwidth": 2.9e12 },
              "smCount": 114, "calibration": { "gemmEfficiency": 0.75, "launchOverhead": 2e-6 } }
            """
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (part, calibration) = try Hardware.resolve(name: "h100", jsonFile: path)
        #expect(part.ceilings.bf16GEMMFLOPS == 7.0e14)
        #expect(part.ceilings.copyBandwidth == 2.9e12)
        #expect(part.ceilings.fp8GEMMFLOPS == Hardware.h100SXM.ceilings.fp8GEMMFLOPS)
        #expect(part.ceilings.source == path)
        #expect(part.smCount == 114)
        #expect(calibration.gemmEfficiency == 0.75)
        #expect(calibration.launchOverhead == 2e-6)
        #expect(calibration.memoryEfficiency == Calibration.default.memoryEfficiency)
        #expect(try Hardware.h100SXM.overridden(byJSONFile: path) == part)
    }

    @Test func badJSONIsRejected() throws {
        let path = "/tmp/switchyard-model-bad-\(UInt64.random(in: 0...UInt64.max)).json"
        try Data(#"{ "calibration": { "gemmEfficiency": 1.5 } }"#.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: SwitchyardError.self) { try Hardware.h100SXM.overridden(byJSONFile: path) }
        #expect(throws: SwitchyardError.self) { try Hardware.h100SXM.overridden(byJSONFile: path + ".missing") }
        try Data(#"{ "calibration": { "gemmEfficency": 0.7 } }"#.utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: SwitchyardError(.malformedFile, "hardware file \(path): unknown field 'calibration.gemmEfficency'")) {
            try Calibration.default.overridden(byJSONFile: path)
        }
        #expect(throws: SwitchyardError.self) { try Hardware.resolve(name: "tpu", jsonFile: nil) }
    }

    @Test func shippedCeilingFilesLoad() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../bench/hardware")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".json") }
        #expect(!files.isEmpty)
        for file in files {
            let loaded = try HardwareFile.load(folder.appendingPathComponent(file).path)
            #expect(loaded.hardware.flatMap(Hardware.named) != nil, "\(file) names a known part")
        }
    }
}
