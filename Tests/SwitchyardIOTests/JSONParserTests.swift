@testable import SwitchyardIO
import Testing

struct JSONParserTests {
    @Test func parsesEveryKindOfValue() throws {
        let text = #" { "a": [1, -2.5e3, 0.125, true, false, null], "s": "x\"\\\/\n\u00e9\ud83d\ude00", "o": {} } "#
        let value = try JSONParser.parse(Array(text.utf8))
        #expect(value["a"] == .array([.number("1"), .number("-2.5e3"), .number("0.125"), .bool(true), .bool(false), .null]))
        #expect(value["a"]?.arrayValue?[1].doubleValue == -2500)
        #expect(value["s"]?.stringValue == "x\"\\/\né😀")
        #expect(value["o"] == .object([]))
        #expect(value.objectValue?.map(\.key) == ["a", "s", "o"])
    }

    @Test func integersAreExact() throws {
        let value = try JSONParser.parse(Array("[9007199254740993, 1.0, 1e2]".utf8))
        #expect(value.arrayValue?.map(\.intValue) == [9_007_199_254_740_993, nil, nil])
    }

    @Test(arguments: ["", "[1,]", "{\"a\" 1}", "tru", "\"\\x\"", "-", "1.", "\"\\ud800\"", "[1] [2]", "{\"a\":1,\"a\":2}"])
    func rejectsInvalidText(text: String) {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(Array(text.utf8)) }
    }

    @Test func rejectsInvalidUTF8InStrings() {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse([0x22, 0xFF, 0x22]) }
    }

    @Test func quotingRoundTrips() throws {
        let text = "a\"b\\c\nd\u{01}é"
        #expect(try JSONParser.parse(Array(jsonQuoted(text).utf8)).stringValue == text)
    }
}
