import Switchyard
import SwitchyardIO
import Testing

/// A file with `header` as its JSON header and `buffer` zero bytes of data.
private func fileBytes(header: String, buffer: Int = 0, declaredLength: UInt64? = nil) -> [UInt8] {
    let json = Array(header.utf8)
    let length = declaredLength ?? UInt64(json.count)
    return (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) } + json + [UInt8](repeating: 0, count: buffer)
}

private func entry(_ name: String, _ dtype: String = "F32", _ shape: [Int] = [2], offsets: (Int, Int) = (0, 8)) -> String {
    "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":[\(offsets.0),\(offsets.1)]}"
}

/// Opens `bytes` and returns the malformed-file message, failing the test if it opened or threw another kind.
private func malformedMessage(_ bytes: [UInt8], reading name: String? = nil) -> String {
    do {
        let file = try SafetensorsFile(bytes: bytes, source: "bad.safetensors")
        if let name { _ = try file.floats(name) }
        Issue.record("expected a malformedFile error")
    } catch let error as SwitchyardError {
        #expect(error.kind == .malformedFile, "\(error)")
        #expect(error.message.hasPrefix("bad.safetensors: "))
        return error.message
    } catch {
        Issue.record("unexpected error \(error)")
    }
    return ""
}

struct MalformedFileTests {
    @Test func fileShorterThanTheLengthPrefix() {
        #expect(malformedMessage([1, 0, 0]).contains("8-byte header length"))
        #expect(malformedMessage([]).contains("file is 0 bytes"))
    }

    @Test func headerLengthBeyondTheFile() {
        #expect(malformedMessage(fileBytes(header: "{}", declaredLength: 100)).contains("runs past the end"))
        #expect(malformedMessage(fileBytes(header: "{}", declaredLength: UInt64.max)).contains("runs past the end"))
    }

    @Test(arguments: ["{not json}", "{\"a\":", "{} trailing", "{\"a\":[1,2}", "{\"a\":\"\u{01}\"}", "{\"a\":01}"])
    func invalidJSON(header: String) {
        #expect(malformedMessage(fileBytes(header: header)).contains("invalid JSON header"))
    }

    @Test func deepNestingIsRefusedNotCrashing() {
        let header = "{\"a\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"
        #expect(malformedMessage(fileBytes(header: header)).contains("nesting deeper"))
    }

    @Test func headerThatIsNotAnObject() {
        #expect(malformedMessage(fileBytes(header: "[1, 2]")).contains("must be a JSON object"))
    }

    @Test func unknownDType() {
        let message = malformedMessage(fileBytes(header: "{\(entry("x", "F12"))}", buffer: 8))
        #expect(message.contains("unknown dtype \"F12\""))
        #expect(message.contains("BF16"))
    }

    @Test func offsetsOutOfRange() {
        #expect(malformedMessage(fileBytes(header: "{\(entry("x"))}", buffer: 4)).contains("fall outside"))
        #expect(malformedMessage(fileBytes(header: "{\(entry("x", offsets: (8, 0)))}", buffer: 8)).contains("fall outside"))
        #expect(malformedMessage(fileBytes(header: "{\(entry("x", offsets: (-8, 0)))}", buffer: 8)).contains("fall outside"))
    }

    @Test func offsetsThatDoNotMatchShapeTimesDTypeSize() {
        let message = malformedMessage(fileBytes(header: "{\(entry("x", "F32", [3]))}", buffer: 8))
        #expect(message.contains("span 8 bytes"))
        #expect(message.contains("needs 12"))
        let huge = malformedMessage(fileBytes(header: "{\(entry("x", "F64", [1 << 40, 1 << 40]))}", buffer: 8))
        #expect(huge.contains("too large"))
    }

    @Test func overlappingTensors() {
        let header = "{\(entry("a", offsets: (0, 8))),\(entry("b", offsets: (4, 12)))}"
        let message = malformedMessage(fileBytes(header: header, buffer: 12))
        #expect(message.contains("overlap"))
        #expect(message.contains("\"a\""))
    }

    @Test func duplicateNames() {
        let header = "{\(entry("a", offsets: (0, 8))),\(entry("a", offsets: (8, 16)))}"
        #expect(malformedMessage(fileBytes(header: header, buffer: 16)).contains("duplicate key \"a\""))
    }

    @Test func missingTensor() {
        let message = malformedMessage(fileBytes(header: "{\(entry("a"))}", buffer: 8), reading: "b")
        #expect(message.contains("no tensor named \"b\""))
        #expect(message.contains("a"))
    }

    @Test func badEntryFields() {
        #expect(malformedMessage(fileBytes(header: "{\"x\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", buffer: 8))
            .contains("non-negative integers"))
        #expect(malformedMessage(fileBytes(header: "{\"x\":{\"dtype\":\"F32\",\"shape\":[2]}}", buffer: 8))
            .contains("data_offsets"))
        #expect(malformedMessage(fileBytes(header: "{\"x\":{\"shape\":[2],\"data_offsets\":[0,8]}}", buffer: 8))
            .contains("dtype"))
        #expect(malformedMessage(fileBytes(header: "{\"__metadata__\":{\"k\":1}}")).contains("must be a string"))
    }

    @Test func truncatedFileOnDisk() throws {
        var writer = SafetensorsWriter()
        try writer.add("x", Tensor(shape: [4], scalars: [1, 2, 3, 4]))
        let whole = writer.serialized()
        let directory = TemporaryDirectory()
        directory.write(Array(whole.dropLast(3)), to: "cut.safetensors")
        #expect {
            try SafetensorsFile(path: directory.file("cut.safetensors"))
        } throws: { ($0 as? SwitchyardError)?.kind == .malformedFile }
        #expect {
            try SafetensorsFile(path: directory.file("absent.safetensors"))
        } throws: { ($0 as? SwitchyardError)?.kind == .io }
    }
}
