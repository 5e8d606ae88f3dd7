import Foundation
import Switchyard
import SwitchyardModel

/// Which performance model `bench` prints beside a GPU measurement: the part and calibration file given on the
/// command line, else the part the GPU's name says (H200, else H100) with the fit committed for it.
enum ModelCalibration {
    /// The committed fits (`docs/performance-model.md`), relative to the repository root.
    static let fits = ["h100": "bench/hardware/h100-sxm-fit-890a99a.json", "h200": "bench/hardware/h200-fit-bf5b467.json"]

    /// "h200" for a device whose name contains H200, else "h100".
    static func part(forDevice description: String) -> String { description.contains("H200") ? "h200" : "h100" }

    /// The part, its calibration, and the file the calibration came from (nil: the part's vendor defaults, when the
    /// file is not there, e.g. outside the repository).
    static func resolve(hardware: String?, calibration: String?, device: String) throws
        -> (hardware: Hardware, calibration: Calibration, file: String?)
    {
        let part = hardware ?? self.part(forDevice: device)
        let path = calibration ?? fits[part.lowercased()]
        let file = path.flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }
        if let calibration, file == nil {
            throw SwitchyardError(.io, "calibration file \(calibration) not found")
        }
        let (machine, factors) = try Hardware.resolve(name: part, jsonFile: file)
        return (machine, factors, file)
    }
}
