import SOCKSProtocol

extension SOCKSEndpoint {
    /// False for a name longer than the 255 bytes an encoding carries: invalid UTF-8 read from the wire
    /// decodes to U+FFFD (3 bytes each), so such a name can outgrow its field, and the encoder cuts it.
    var fitsItsEncoding: Bool {
        if case .domain(let name) = address { return name.utf8.count <= 255 }
        return true
    }
}
