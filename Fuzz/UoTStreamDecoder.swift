import SOCKSProtocol

/// Fuzzes `UoTStreamDecoder`, and with it `UoTRequestHeader.parse` and `UoTFrame.parse`: the server's reader
/// of v2 (header, then frames of the mode it names) and of v1 (addressed frames), and the client's reader of
/// either framing.
///
/// Input: a `FuzzedStream`. Options bits 0–1: 0 server of v2, 1 server of v1, 2 client of connect framing,
/// 3 client of addressed framing; bits 2–4: the reader's `maximumPayload`, one of `payloadLimits`; bit 5 (frame
/// modes, limits of 1500 and up): the stream starts with over 64 KiB of full-size frames, so the decoder's
/// buffer compaction runs while the fuzzed bytes are read.
///
/// Invariants, beyond not crashing:
/// - the same events and the same error whether the bytes arrive in one read or in the fuzzer's chunks (the
///   chunked run reads with `nextView()`, whose payloads lie in the decoder's buffer, the whole run with
///   `next()`);
/// - every event, and the error or the wait for more bytes at the end, is what a reader written from the
///   specification (`SpecReader`, below) finds at the same place; no frame exceeds `maximumPayload`;
/// - an event read from canonical bytes re-encodes to them (a decoded header to its bytes, a frame to its
///   bytes); the exceptions are named by the specification: `isConnect` above 1, an IPv4-mapped IPv6 address
///   (read as IPv4);
/// - a name that is no host name (`isHostName`) ends the stream in a header (`.invalidDomain`), and in a
///   frame makes it `.unaddressableFrame` with the name's bytes, the port and the payload's length, after
///   which the stream goes on;
/// - the framing is unknown until a v2 header, then the header's; an error repeats on the next call.
func fuzzOneInput(_ input: [UInt8]) {
    let fuzzed = FuzzedStream(input)
    let mode = DecoderMode(rawValue: fuzzed.options & 0x03)!
    let maximumPayload = payloadLimits[Int(fuzzed.options >> 2 & 0x07)]
    var stream = fuzzed.stream
    var chunks = fuzzed.chunks(of: stream)
    if fuzzed.options & 0x20 != 0, let framing = mode.initialFraming, let prefix = compactionPrefixes[framing]?[maximumPayload] {
        stream = prefix + stream
        // The prefix arrives with the first chunk, so the decoder moves a partial frame after it; cutting the
        // prefix too would cost thousands of decoder calls per input, which the small inputs test anyway.
        chunks = [(prefix + (chunks.first ?? []))[...]] + chunks.dropFirst()
    }
    let whole = DecoderRun(mode: mode, maximumPayload: maximumPayload, chunks: [stream[...]], viewing: false)
    let split = DecoderRun(mode: mode, maximumPayload: maximumPayload, chunks: chunks, viewing: true)
    expect(sameEvents(split.events, whole.events), "split reads changed the events")
    expect(split.error == whole.error, "split reads changed the error: \(String(describing: split.error)) vs \(String(describing: whole.error))")
    checkAgainstSpecification(whole, stream: stream, mode: mode, maximumPayload: maximumPayload)
}

/// The readers' limits: the largest possible, what deployed readers accept (16 and 8 KiB), an MTU, and small.
let payloadLimits = [UoTFrame.maximumPayload, 16384, 8192, 1500, 512, 16, 1, 0]

/// Which side reads the stream, and how it starts.
enum DecoderMode: UInt8 {
    case serverOfV2, serverOfV1, clientOfConnectFraming, clientOfAddressedFraming

    func makeDecoder(maximumPayload: Int) -> UoTStreamDecoder {
        switch self {
        case .serverOfV2: UoTStreamDecoder(serverOf: .v2, maximumPayload: maximumPayload)
        case .serverOfV1: UoTStreamDecoder(serverOf: .v1, maximumPayload: maximumPayload)
        case .clientOfConnectFraming: UoTStreamDecoder(framing: .connect, maximumPayload: maximumPayload)
        case .clientOfAddressedFraming: UoTStreamDecoder(framing: .addressed, maximumPayload: maximumPayload)
        }
    }

    /// The framing before any byte is read: none for v2, whose header decides.
    var initialFraming: UoTFraming? {
        switch self {
        case .serverOfV2: nil
        case .serverOfV1, .clientOfAddressedFraming: .addressed
        case .clientOfConnectFraming: .connect
        }
    }
}

/// For each framing and each limit of 1500 and up: full-size frames that add up to over 64 KiB. Made once.
let compactionPrefixes: [UoTFraming: [Int: [UInt8]]] = Dictionary(
    uniqueKeysWithValues: [UoTFraming.connect, .addressed].map { framing in
        (framing, Dictionary(uniqueKeysWithValues: payloadLimits.filter { $0 >= 1500 }.map { ($0, compactionPrefix(framing: framing, payloadSize: $0)) }))
    })

/// Full-size frames (payload 0, 1, 2, … mod 256, so a misplaced byte shows) that add up to just over 64 KiB.
func compactionPrefix(framing: UoTFraming, payloadSize: Int) -> [UInt8] {
    let payload = (0..<payloadSize).map { UInt8(truncatingIfNeeded: $0) }
    let endpoint = SOCKSEndpoint(address: .ipv4([192, 0, 2, 1]), port: 53)
    var bytes: [UInt8] = []
    // Just past 64 KiB, where the decoder moves its unread bytes to the front: enough, and no more, since
    // every byte here is copied and compared several times per input.
    while bytes.count <= 65536 {
        try? UoTFrame.append(payload: payload, endpoint: endpoint, framing: framing, to: &bytes)
    }
    return bytes
}

/// One decoder fed the chunks in turn, draining it after each: with `next()`, or with `nextView()` (each
/// view copied into an event at once, as a reader lets go of it before the next call).
struct DecoderRun {
    private(set) var events: [UoTStreamDecoder.Event] = []
    /// The error that ended the stream; `nil` when it ran out of bytes instead.
    private(set) var error: UoTProtocolError?

    init(mode: DecoderMode, maximumPayload: Int, chunks: [ArraySlice<UInt8>], viewing: Bool) {
        var decoder = mode.makeDecoder(maximumPayload: maximumPayload)
        var framing = mode.initialFraming
        feed: for chunk in chunks {
            decoder.receive(chunk)
            while true {
                expect(decoder.framing == framing, "framing \(String(describing: decoder.framing)), expected \(String(describing: framing))")
                let event: UoTStreamDecoder.Event?
                do {
                    event = viewing ? try decoder.nextView().map(UoTStreamDecoder.Event.init(copying:)) : try decoder.next()
                } catch let failure {
                    error = failure
                    // The stream cannot be resynchronised: the same error again, nothing else.
                    expect(Result { () throws(UoTProtocolError) in try decoder.next() } == .failure(failure), "error not repeated")
                    break feed
                }
                guard let event else { break }
                if case .header(let header) = event {
                    expect(framing == nil, "a second header, or a header in frames")
                    framing = header.framing
                }
                events.append(event)
            }
        }
    }
}

extension UoTStreamDecoder.Event {
    /// The event a view stands for, its payload copied out.
    init(copying view: UoTStreamDecoder.View) {
        switch view {
        case .header(let header): self = .header(header)
        case .frame(let endpoint, let payload): self = .frame(UoTFrame(endpoint: endpoint, payload: Array(payload)))
        case .unaddressableFrame(let name, let port, let payloadCount): self = .unaddressableFrame(name: name, port: port, payloadCount: payloadCount)
        }
    }
}

/// Whether two lists of events are equal. Compared here and not with `SOCKSProtocol`'s `==`, which is built
/// with comparison tracing for the fuzzer and would trace every byte of 64 KiB payloads; payloads by `memcmp`.
func sameEvents(_ left: [UoTStreamDecoder.Event], _ right: [UoTStreamDecoder.Event]) -> Bool {
    guard left.count == right.count else { return false }
    for (one, other) in zip(left, right) {
        switch (one, other) {
        case (.header(let one), .header(let other)):
            guard one == other else { return false }
        case (.frame(let one), .frame(let other)):
            guard one.endpoint == other.endpoint, sameBytes(one.payload[...], other.payload[...]) else { return false }
        case (.unaddressableFrame(let name, let port, let count), .unaddressableFrame(let otherName, let otherPort, let otherCount)):
            guard sameBytes(name[...], otherName[...]), port == otherPort, count == otherCount else { return false }
        default:
            return false
        }
    }
    return true
}

extension UoTStreamDecoder.Event {
    /// The event in a few words, for a failure message: a payload by its size, not its bytes (up to 64 KiB).
    var summary: String {
        switch self {
        case .header(let header): "header(\(header.isConnect ? "connect" : "non-connect") \(header.destination))"
        case .frame(let frame): "frame(\(frame.endpoint.map { "\($0), " } ?? "")\(frame.payload.count) bytes)"
        case .unaddressableFrame(let name, let port, let count): "unaddressable frame(\(ClientBytes.text(name)):\(port), \(count) bytes)"
        }
    }
}

/// Walks the stream with `SpecReader` and compares each step with what the decoder produced.
func checkAgainstSpecification(_ run: DecoderRun, stream: [UInt8], mode: DecoderMode, maximumPayload: Int) {
    var reader = SpecReader(bytes: stream, framing: mode.initialFraming, maximumPayload: maximumPayload)
    for event in run.events {
        let start = reader.position
        reader.canonical = true
        let expected: UoTStreamDecoder.Event?
        do {
            expected = try reader.next()
        } catch {
            expect(false, "decoder read \(event.summary) where the specification says \(error)")
            return
        }
        expect(expected.map { sameEvents([$0], [event]) } == true, "decoder read \(event.summary), the specification \(expected?.summary ?? "nothing yet")")
        if reader.canonical {
            let encoded: [UInt8]?
            switch event {
            case .header(let header): encoded = header.encoded()
            // A frame leaves the framing as it was, so the reader's is the one it was read in.
            case .frame(let frame): encoded = reader.framing.flatMap { try? frame.encoded(framing: $0) }
            // No frame to encode: the bytes in front of the payload, then the payload as it was read.
            case .unaddressableFrame(let name, let port, let count):
                let head = [0x02, UInt8(name.count)] + name + [UInt8(port >> 8), UInt8(port & 0xFF), UInt8(count >> 8), UInt8(count & 0xFF)]
                encoded = reader.position - start == head.count + count ? head + stream[(start + head.count)..<reader.position] : nil
            }
            expect(encoded.map { sameBytes(stream[start..<reader.position], $0[...]) } == true, "\(event.summary) does not re-encode to its bytes")
        }
    }
    // Where the decoder stopped, the specification stops too, the same way.
    let end = Result { () throws(UoTProtocolError) in try reader.next() }
    switch (run.error, end) {
    case (nil, .success(nil)): break
    case (let error?, .failure(let expected)): expect(error == expected, "decoder failed with \(error), the specification with \(expected)")
    case (let error?, .success(let event)):
        expect(false, "decoder failed with \(error), the specification reads \(event?.summary ?? "nothing yet")")
    case (nil, .success(let event?)):
        expect(false, "decoder waits for bytes, the specification reads \(event.summary)")
    case (nil, .failure(let expected)):
        expect(false, "decoder waits for bytes, the specification fails with \(expected)")
    }
}

/// The UoT wire format read straight from the specification (udp-over-tcp.md), byte by byte, with none of
/// the decoder's code: the reference the decoder is compared with.
struct SpecReader {
    let bytes: [UInt8]
    /// `nil` until a v2 header is read.
    var framing: UoTFraming?
    let maximumPayload: Int
    private(set) var position = 0
    /// Cleared when the last item's bytes are not the ones its encoding gives back.
    var canonical = true

    init(bytes: [UInt8], framing: UoTFraming?, maximumPayload: Int) {
        self.bytes = bytes
        self.framing = framing
        self.maximumPayload = maximumPayload
    }

    /// The next header or frame, `nil` if the bytes end first, or the error the specification calls for.
    mutating func next() throws(UoTProtocolError) -> UoTStreamDecoder.Event? {
        let start = position
        let event: UoTStreamDecoder.Event?
        if let framing {
            event = try frame(framing)
        } else {
            event = try header().map(UoTStreamDecoder.Event.header)
            if case .header(let header)? = event { framing = header.isConnect ? .connect : .addressed }
        }
        if event == nil { position = start }
        return event
    }

    /// §3.1: `isConnect ATYP ADDR PORT`, standard SOCKS5 address types; a name that is no host name ends
    /// the stream, as soon as it is read.
    private mutating func header() throws(UoTProtocolError) -> UoTRequestHeader? {
        guard let isConnect = byte() else { return nil }
        if isConnect > 1 { canonical = false }  // "read as non-zero means connect", written back as 1
        switch try address(perPacket: false) {
        case .endpoint(let destination)?: return UoTRequestHeader(isConnect: isConnect != 0, destination: destination)
        case .noHostName?: throw .invalidDomain
        case nil: return nil
        }
    }

    /// §3.2 and §3.3: `[FAM ADDR PORT] LENGTH PAYLOAD`. A frame to a name that is no host name is read
    /// whole, length limit included, and reported without its payload.
    private mutating func frame(_ framing: UoTFraming) throws(UoTProtocolError) -> UoTStreamDecoder.Event? {
        var address: Address?
        if framing == .addressed {
            guard let read = try self.address(perPacket: true) else { return nil }
            address = read
        }
        guard let length = uint16() else { return nil }
        if Int(length) > maximumPayload { throw .frameTooLarge(Int(length)) }
        guard let payload = take(Int(length)) else { return nil }
        switch address {
        case .noHostName(let name, let port)?: return .unaddressableFrame(name: name, port: port, payloadCount: payload.count)
        case .endpoint(let endpoint)?: return .frame(UoTFrame(endpoint: endpoint, payload: payload))
        case nil: return .frame(UoTFrame(endpoint: nil, payload: payload))
        }
    }

    /// An address as read: an endpoint, or a name that is no host name (`isHostName`) with its port.
    private enum Address {
        case endpoint(SOCKSEndpoint)
        case noHostName([UInt8], port: UInt16)
    }

    /// §2: an address and a port, in the header's encoding (01 IPv4, 03 domain, 04 IPv6) or the per-packet
    /// one (00 IPv4, 02 domain, 01 IPv6). Zero-length names and unknown types are refused; an IPv4-mapped
    /// IPv6 address is IPv4. A name that is no host name is refused at once in the header's encoding, and
    /// given with its port in the per-packet one.
    private mutating func address(perPacket: Bool) throws(UoTProtocolError) -> Address? {
        guard let type = byte() else { return nil }
        let (ipv4, domain, ipv6): (UInt8, UInt8, UInt8) = perPacket ? (0x00, 0x02, 0x01) : (0x01, 0x03, 0x04)
        let address: SOCKSAddress
        switch type {
        case ipv4:
            guard let bytes = take(4) else { return nil }
            address = .ipv4(bytes)
        case ipv6:
            guard let bytes = take(16) else { return nil }
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
                address = .ipv4(Array(bytes[12...]))
                canonical = false
            } else {
                address = .ipv6(bytes)
            }
        case domain:
            guard let length = byte() else { return nil }
            if length == 0 { throw .invalidDomain }
            guard let name = take(Int(length)) else { return nil }
            guard isHostName(name) else {
                if !perPacket { throw .invalidDomain }
                guard let port = uint16() else { return nil }
                return .noHostName(name, port: port)
            }
            address = .domain(String(decoding: name, as: UTF8.self))
        default:
            throw perPacket ? .unknownAddressFamily(type) : .unknownAddressType(type)
        }
        guard let port = uint16() else { return nil }
        return .endpoint(SOCKSEndpoint(address: address, port: port))
    }

    private mutating func byte() -> UInt8? { take(1)?[0] }

    private mutating func uint16() -> UInt16? { take(2).map { UInt16($0[0]) << 8 | UInt16($0[1]) } }

    private mutating func take(_ count: Int) -> [UInt8]? {
        guard bytes.count - position >= count else { return nil }
        defer { position += count }
        return Array(bytes[position..<position + count])
    }
}
