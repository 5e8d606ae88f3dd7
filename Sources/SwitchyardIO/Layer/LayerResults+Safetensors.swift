import Switchyard

extension SafetensorsWriter {
    /// Adds dX, dWr, dW1, dW2 (and the shared experts' dW1, dW2 when `sharedExperts > 0`) under the
    /// weights' names prefixed with ``LayerTensorNames/gradientPrefix``.
    public mutating func addGradients(
        _ gradients: LayerGradients<Float>, sharedExperts: Int, as dtype: SafetensorsDType = .float32
    ) throws {
        let prefix = LayerTensorNames.gradientPrefix
        try add(LayerTensorNames.inputGradient, gradients.input, as: dtype)
        try add(prefix + LayerTensorNames.router, gradients.router, as: dtype)
        try add(prefix + LayerTensorNames.w1, gradients.w1, as: dtype)
        try add(prefix + LayerTensorNames.w2, gradients.w2, as: dtype)
        if sharedExperts > 0 {
            try add(prefix + LayerTensorNames.sharedW1, gradients.sharedW1, as: dtype)
            try add(prefix + LayerTensorNames.sharedW2, gradients.sharedW2, as: dtype)
        }
    }
}

extension SafetensorsFile {
    /// The tensor `name`, or the file's only tensor when it holds exactly one under another name
    /// (so `--input x.safetensors` accepts a file with a single tensor called anything).
    public func tensor(preferring name: String) throws -> Tensor<Float> {
        if contains(name) || tensors.count != 1 { return try tensor(name) }
        return try tensor(tensors[0].name)
    }
}
