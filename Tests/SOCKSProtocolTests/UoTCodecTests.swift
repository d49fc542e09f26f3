import Testing
@testable import SOCKSProtocol

/// "01 02 0a" → [1, 2, 10]
func hex(_ text: String) -> [UInt8] {
    text.split(separator: " ").map { UInt8($0, radix: 16)! }
}

/// Decodes `bytes` fed whole and one byte at a time; both must give the same events.
func decodeAll(_ bytes: [UInt8], _ makeDecoder: () -> UoTStreamDecoder) throws -> [UoTStreamDecoder.Event] {
    var whole = makeDecoder()
    whole.receive(bytes)
    var wholeEvents: [UoTStreamDecoder.Event] = []
    while let event = try whole.next() { wholeEvents.append(event) }
    var trickle = makeDecoder()
    var trickleEvents: [UoTStreamDecoder.Event] = []
    for byte in bytes {
        trickle.receive([byte])
        while let event = try trickle.next() { trickleEvents.append(event) }
    }
    #expect(wholeEvents == trickleEvents)
    return wholeEvents
}

@Suite struct UoTSpecVectorTests {
    let localhost6 = [UInt8](repeating: 0, count: 15) + [1]
    let doc6 = hex("20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01")

    @Test func v2HeaderConnectIPv4() throws {
        let header = UoTRequestHeader(isConnect: true, destination: SOCKSEndpoint(address: .ipv4([1, 2, 3, 4]), port: 53))
        #expect(header.encoded() == hex("01 01 01 02 03 04 00 35"))
        #expect(try decodeAll(hex("01 01 01 02 03 04 00 35"), { UoTStreamDecoder(serverOf: .v2) }) == [.header(header)])
    }

    @Test func v2HeaderNonConnectIPv6() throws {
        let wire = hex("00 04 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 00 35")
        let header = UoTRequestHeader(isConnect: false, destination: SOCKSEndpoint(address: .ipv6(localhost6), port: 53))
        #expect(header.encoded() == wire)
        #expect(try decodeAll(wire, { UoTStreamDecoder(serverOf: .v2) }) == [.header(header)])
    }

    @Test func v2HeaderConnectDomain() throws {
        let wire = hex("01 03 0b 65 78 61 6d 70 6c 65 2e 63 6f 6d 01 bb")
        let header = UoTRequestHeader(isConnect: true, destination: SOCKSEndpoint(address: .domain("example.com"), port: 443))
        #expect(header.encoded() == wire)
        #expect(try decodeAll(wire, { UoTStreamDecoder(serverOf: .v2) }) == [.header(header)])
    }

    @Test func v2ConnectFrame() throws {
        let frame = UoTFrame(endpoint: nil, payload: Array("hello".utf8))
        #expect(try frame.encoded(framing: .connect) == hex("00 05 68 65 6c 6c 6f"))
        #expect(try decodeAll(hex("00 05 68 65 6c 6c 6f"), { UoTStreamDecoder(framing: .connect) }) == [.frame(frame)])
    }

    @Test func v2NonConnectFrame() throws {
        let wire = hex("00 08 08 08 08 00 35 00 02 68 69")
        let frame = UoTFrame(endpoint: SOCKSEndpoint(address: .ipv4([8, 8, 8, 8]), port: 53), payload: Array("hi".utf8))
        #expect(try frame.encoded(framing: .addressed) == wire)
        #expect(try decodeAll(wire, { UoTStreamDecoder(framing: .addressed) }) == [.frame(frame)])
    }

    @Test func v1FrameToDomain() throws {
        let wire = hex("02 0b 65 78 61 6d 70 6c 65 2e 63 6f 6d 00 35 00 01 78")
        let frame = UoTFrame(endpoint: SOCKSEndpoint(address: .domain("example.com"), port: 53), payload: Array("x".utf8))
        #expect(try frame.encoded(framing: .addressed) == wire)
        // v1 has no header: a v1 server decoder reads addressed frames from the first byte.
        #expect(try decodeAll(wire, { UoTStreamDecoder(serverOf: .v1) }) == [.frame(frame)])
    }

    @Test func firstWriteOfAV2ConnectClient() throws {
        let wire = hex("01 01 01 02 03 04 00 35 00 05 68 65 6c 6c 6f")
        let header = UoTRequestHeader(isConnect: true, destination: SOCKSEndpoint(address: .ipv4([1, 2, 3, 4]), port: 53))
        let frame = UoTFrame(endpoint: nil, payload: Array("hello".utf8))
        #expect(header.encoded() + (try frame.encoded(framing: .connect)) == wire)
        #expect(try decodeAll(wire, { UoTStreamDecoder(serverOf: .v2) }) == [.header(header), .frame(frame)])
    }

    @Test func serverReplyFromIPv6NonConnect() throws {
        let wire = hex("01 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01 00 35 00 02 6f 6b")
        let frame = UoTFrame(endpoint: SOCKSEndpoint(address: .ipv6(doc6), port: 53), payload: Array("ok".utf8))
        #expect(try frame.encoded(framing: .addressed) == wire)
        #expect(try decodeAll(wire, { UoTStreamDecoder(framing: .addressed) }) == [.frame(frame)])
    }

    @Test(arguments: [UoTVersion.v2, .v1])
    func socksConnectForMagicName(version: UoTVersion) {
        let wire = version == .v2
            ? hex("05 01 00 03 17 73 70 2e 76 32 2e 75 64 70 2d 6f 76 65 72 2d 74 63 70 2e 61 72 70 61 00 00")
            : hex("05 01 00 03 14 73 70 2e 75 64 70 2d 6f 76 65 72 2d 74 63 70 2e 61 72 70 61 00 00")
        let request = SOCKSRequest(command: .connect, destination: SOCKSEndpoint(address: .domain(version.magicName), port: 0))
        #expect(request.encoded() == wire)
        #expect(UoTVersion(destination: request.destination) == version)
    }

    @Test func magicNamesMatchExactly() {
        for name in ["SP.V2.UDP-OVER-TCP.ARPA", "sp.v2.udp-over-tcp.arpa.", "x.sp.v2.udp-over-tcp.arpa", "sp.v3.udp-over-tcp.arpa"] {
            #expect(UoTVersion(magicName: name) == nil, "\(name)")
        }
    }
}

@Suite struct UoTCodecEdgeTests {
    @Test func unknownFamilyAndEmptyDomainAreRejected() {
        var unknown = UoTStreamDecoder(framing: .addressed)
        unknown.receive(hex("03 01 02 03 04 00 35 00 00"))
        #expect(throws: UoTProtocolError.unknownAddressFamily(3)) { try unknown.next() }
        var empty = UoTStreamDecoder(framing: .addressed)
        empty.receive(hex("02 00 00 35 00 00"))
        #expect(throws: UoTProtocolError.invalidDomain) { try empty.next() }
        var badHeader = UoTStreamDecoder(serverOf: .v2)
        badHeader.receive(hex("01 02 01 02 03 04 00 35"))
        #expect(throws: UoTProtocolError.unknownAddressType(2)) { try badHeader.next() }
        var emptyHeaderDomain = UoTStreamDecoder(serverOf: .v2)
        emptyHeaderDomain.receive(hex("00 03 00 00 35"))
        #expect(throws: UoTProtocolError.invalidDomain) { try emptyHeaderDomain.next() }
    }

    @Test func ipv4MappedIPv6IsReadAsIPv4() throws {
        let mapped = hex("01 00 00 00 00 00 00 00 00 00 00 ff ff 0a 00 00 01 00 35 00 00")
        #expect(try decodeAll(mapped, { UoTStreamDecoder(framing: .addressed) })
            == [.frame(UoTFrame(endpoint: SOCKSEndpoint(address: .ipv4([10, 0, 0, 1]), port: 53), payload: []))])
        let header = hex("00 04 00 00 00 00 00 00 00 00 00 00 ff ff 7f 00 00 01 00 35")
        #expect(try decodeAll(header, { UoTStreamDecoder(serverOf: .v2) })
            == [.header(UoTRequestHeader(isConnect: false, destination: SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: 53)))])
    }

    @Test func nonZeroIsConnectMeansConnect() throws {
        let events = try decodeAll(hex("07 01 01 02 03 04 00 35 00 00"), { UoTStreamDecoder(serverOf: .v2) })
        #expect(events.count == 2)
        #expect(events.first == .header(UoTRequestHeader(isConnect: true, destination: SOCKSEndpoint(address: .ipv4([1, 2, 3, 4]), port: 53))))
    }

    @Test func writerRefusesPayloadsOver65535() throws {
        #expect(throws: UoTProtocolError.payloadTooLarge(65536)) {
            try UoTFrame(endpoint: nil, payload: [UInt8](repeating: 0, count: 65536)).encoded(framing: .connect)
        }
        #expect(throws: UoTProtocolError.missingAddress) {
            try UoTFrame(endpoint: nil, payload: [1]).encoded(framing: .addressed)
        }
    }

    @Test func readerLimitClosesOnLargerFrames() {
        var decoder = UoTStreamDecoder(framing: .connect, maximumPayload: 16384)
        decoder.receive(hex("40 01"))
        #expect(throws: UoTProtocolError.frameTooLarge(16385)) { try decoder.next() }
    }

    /// Random endpoints and payloads (0 and 65535 bytes included) survive encode → decode in both framings.
    @Test(arguments: [UoTFraming.connect, .addressed])
    func randomFramesRoundTrip(framing: UoTFraming) throws {
        var generator = SystemRandomNumberGenerator()
        var frames: [UoTFrame] = []
        for index in 0..<200 {
            let size = index == 0 ? 0 : index == 1 ? 65535 : Int.random(in: 0...2000, using: &generator)
            let payload = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let endpoint: SOCKSEndpoint? = framing == .connect ? nil : {
                let port = UInt16.random(in: 0...65535, using: &generator)
                switch index % 3 {
                case 0: return SOCKSEndpoint(address: .ipv4((0..<4).map { _ in UInt8.random(in: 0...255, using: &generator) }), port: port)
                case 1:
                    // Not IPv4-mapped: a mapped address legitimately comes back as IPv4.
                    return SOCKSEndpoint(address: .ipv6([0x20, 0x01] + (0..<14).map { _ in UInt8.random(in: 0...255, using: &generator) }), port: port)
                default:
                    let length = Int.random(in: 1...255, using: &generator)
                    return SOCKSEndpoint(address: .domain(String((0..<length).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789-.".randomElement(using: &generator)! })), port: port)
                }
            }()
            frames.append(UoTFrame(endpoint: endpoint, payload: payload))
        }
        var stream: [UInt8] = []
        for frame in frames { stream += try frame.encoded(framing: framing) }
        var decoder = UoTStreamDecoder(framing: framing)
        var decoded: [UoTFrame] = []
        var offset = 0
        // Fed in random chunk sizes, as a socket would deliver it.
        while offset < stream.count {
            let chunk = min(stream.count - offset, Int.random(in: 1...5000, using: &generator))
            decoder.receive(stream[offset..<offset + chunk])
            offset += chunk
            while case .frame(let frame)? = try decoder.next() { decoded.append(frame) }
        }
        #expect(decoded == frames)
    }
}
