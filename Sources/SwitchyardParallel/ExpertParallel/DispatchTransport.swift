import Switchyard
import SwitchyardFormats

/// Moving token rows for dispatch and combine over a host communicator, in the layer's scalar type or in the
/// compressed formats (FP8 E4M3 with 1×128 scales out, bf16 back).
enum DispatchTransport {
    /// Sends `rows` [Σ sendCounts, width] row blocks; returns the received rows [Σ receiveCounts, width].
    static func rows<S: CommunicatorScalar>(
        _ rows: [S], width: Int, sendCounts: [Int], receiveCounts: [Int], communicator: some Communicator
    ) throws -> [S] {
        try communicator.allToAllV(
            rows, sendCounts: sendCounts.map { $0 * width }, receiveCounts: receiveCounts.map { $0 * width })
    }

    /// FP8 dispatch: each row quantized to E4M3 with one fp32 scale per 128 columns; codes and scales travel,
    /// the receiver dequantizes.
    static func fp8Rows<S: BinaryFloatingPoint & CommunicatorScalar>(
        _ rows: [S], width: Int, sendCounts: [Int], receiveCounts: [Int], communicator: some Communicator
    ) throws -> [S] {
        let sent = sendCounts.reduce(0, +), received = receiveCounts.reduce(0, +)
        let blocks = (width + 127) / 128
        let quantized = try QuantizedTensor.quantize(
            rows.map { Float($0) }, shape: [sent, width], element: .e4m3, layout: .tokenwise1x128)
        let codes = try communicator.allToAllV(
            quantized.codes, sendCounts: sendCounts.map { $0 * width }, receiveCounts: receiveCounts.map { $0 * width })
        let scales = try communicator.allToAllV(
            quantized.scales, sendCounts: sendCounts.map { $0 * blocks }, receiveCounts: receiveCounts.map { $0 * blocks })
        let arrived = try QuantizedTensor(
            shape: [received, width], element: .e4m3, layout: .tokenwise1x128, codes: codes, scales: scales)
        return arrived.dequantized().map { S($0) }
    }

    /// bf16 combine: rows rounded to bf16 (nearest even) travel as 2-byte values and widen on arrival.
    static func bfloat16Rows<S: BinaryFloatingPoint & CommunicatorScalar>(
        _ rows: [S], width: Int, sendCounts: [Int], receiveCounts: [Int], communicator: some Communicator
    ) throws -> [S] {
        guard communicator.device == .cpu else {
            throw SwitchyardError(.unsupported, "host bf16 combine needs a CPU communicator")
        }
        let send = rows.map { BFloat16(Float($0)).bitPattern }
        var receive = [UInt16](repeating: 0, count: receiveCounts.reduce(0, +) * width)
        try send.withUnsafeBytes { sendBytes in
            try receive.withUnsafeMutableBytes { receiveBytes in
                try communicator.allToAllV(
                    send: TensorView(address: UInt(bitPattern: sendBytes.baseAddress), shape: [send.count], dtype: .bfloat16, device: .cpu),
                    sendCounts: sendCounts.map { $0 * width },
                    receive: TensorView(
                        address: UInt(bitPattern: receiveBytes.baseAddress), shape: [receiveBytes.count / 2], dtype: .bfloat16,
                        device: .cpu),
                    receiveCounts: receiveCounts.map { $0 * width })
            }
        }
        return receive.map { S(BFloat16(bitPattern: $0).floatValue) }
    }
}
