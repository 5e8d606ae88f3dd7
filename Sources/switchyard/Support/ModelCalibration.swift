import Foundation
import Switchyard
import SwitchyardModel

/// Which performance model `bench` and `ep-bench` print beside a GPU measurement: the part and calibration file given
/// on the command line, else the part the GPU's name says (H100 when it names no built-in part), each part with the fit
/// committed for it (vendor defaults for parts without one).
enum ModelCalibration {
    /// The committed fits (`docs/performance-model.md`) by part name, relative to the repository root.
    static let fits = [Hardware.h100SXM.name: "bench/hardware/h100-sxm-fit-abaf0e3.json",
                       Hardware.h200.name: "bench/hardware/h200-fit-b691575.json"]

    /// The part, its calibration, and the file the calibration came from (nil: the part's vendor defaults, when the
    /// committed fit is not there, e.g. outside the repository). A `calibration` file that is not there is an error.
    static func resolve(hardware: String?, calibration: String?, device: String) throws
        -> (hardware: Hardware, calibration: Calibration, file: String?)
    {
        let part = hardware ?? Hardware.part(inDevice: device)?.name ?? "h100"
        let path = calibration ?? Hardware.named(part).flatMap { fits[$0.name] }
        let file = path.flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }
        if let calibration, file == nil {
            throw SwitchyardError(.io, "calibration file \(calibration) not found")
        }
        let (machine, factors) = try Hardware.resolve(name: part, jsonFile: file)
        return (machine, factors, file)
    }
}
