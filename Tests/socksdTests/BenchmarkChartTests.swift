import Foundation
import Testing

/// `Benchmarks/results.svg`, the chart of BENCHMARKS.md's table that `Benchmarks/chart.py` draws: the
/// committed chart is the committed table drawn, it is well-formed XML, and headless Chromium renders it to
/// a PNG of its size with every peer's bar colour in it.
@Suite struct BenchmarkChartTests {
    static let root = MonitoringFiles.root
    static let chartPath = root.appendingPathComponent("Benchmarks/results.svg").path
    static let scriptPath = root.appendingPathComponent("Benchmarks/chart.py").path
    static let tablePath = root.appendingPathComponent("BENCHMARKS.md").path
    /// The bar colours of direct, socksd, microsocks and Dante, as chart.py writes them.
    static let barColors = ["8c8c8c", "1f77b4", "ff7f0e", "2ca02c"]

    /// Python's XML parser (expat) reads the chart: `ROOT WIDTH HEIGHT` (its root element's name and size),
    /// or an error and a non-zero status when the file is not well-formed.
    static let rootReader = """
        import sys, xml.dom.minidom
        root = xml.dom.minidom.parse(sys.argv[1]).documentElement
        print(root.tagName, root.getAttribute("width"), root.getAttribute("height"))
        """

    /// chart.py run on the committed BENCHMARKS.md writes the committed results.svg, byte for byte: a new
    /// table without a new chart (or a chart edited by hand) fails here.
    @Test func theCommittedChartIsTheCommittedTableDrawn() async throws {
        let work = try TemporaryDirectory()
        let output = work.file("results.svg")
        let result = try await runCommand("/usr/bin/python3", [Self.scriptPath, Self.tablePath, "-o", output], includeErrors: true, timeout: .seconds(60))
        #expect(result.status == 0, "chart.py: \(result.output)")
        let drawn = try String(contentsOfFile: output, encoding: .utf8)
        let committed = try String(contentsOfFile: Self.chartPath, encoding: .utf8)
        #expect(drawn == committed, "Benchmarks/results.svg is not BENCHMARKS.md drawn: run python3 Benchmarks/chart.py")
        #expect(committed.contains(">socksd beside microsocks, Dante and a direct connection<"))
    }

    /// The chart parses as XML with an `svg` root of whole-pixel size, and `chromium --headless
    /// --screenshot` at that window size writes a PNG of exactly that size whose pixels include each peer's
    /// bar colour (an SVG Chromium could not draw would show an error page, or nothing, instead). The run is
    /// bounded to 60 s by `timeout`; a missing Chromium fails the test.
    @Test func chromiumRendersTheChartAtItsSize() async throws {
        let parsed = try await runCommand("/usr/bin/python3", ["-c", Self.rootReader, Self.chartPath], includeErrors: true, timeout: .seconds(60))
        #expect(parsed.status == 0, "results.svg is not well-formed XML: \(parsed.output)")
        let root = parsed.output.split(whereSeparator: \.isWhitespace)
        try #require(root.count == 3, "\(parsed.output)")
        #expect(root[0] == "svg")
        let width = try #require(Int(root[1])), height = try #require(Int(root[2]))
        #expect(width >= 600 && height >= 400, "\(width)×\(height)")

        let chromium = "/usr/bin/chromium"
        guard FileManager.default.isExecutableFile(atPath: chromium) else {
            Issue.record("\(chromium) is not installed: run .ci/run, or apt-get install chromium")
            return
        }
        let work = try TemporaryDirectory()
        let screenshot = work.file("chart.png")
        let result = try await runCommand("/usr/bin/timeout", [
            "--kill-after=5", "60", chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(work.file("profile"))",
            "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
            "--hide-scrollbars", "--force-device-scale-factor=1", "--window-size=\(width),\(height)", "--screenshot=\(screenshot)",
            URL(fileURLWithPath: Self.chartPath).absoluteString,
        ], includeErrors: true, timeout: .seconds(90), environment: HTTPProxyClientTests.clientEnvironment(home: work))
        #expect(result.status == 0, "chromium exited \(result.status) (124: killed after 60 s): \(result.output)")
        let png = try Data(contentsOf: URL(fileURLWithPath: screenshot))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), "not a PNG")
        try #require(png.count > 24)
        let pngWidth = png[16..<20].reduce(0) { $0 << 8 | Int($1) }
        let pngHeight = png[20..<24].reduce(0) { $0 << 8 | Int($1) }
        #expect(pngWidth == width && pngHeight == height, "the PNG is \(pngWidth)×\(pngHeight), the SVG \(width)×\(height)")

        let colors = try await runCommand("/usr/bin/python3", ["-c", Self.colorCounter, screenshot], includeErrors: true, timeout: .seconds(60))
        #expect(colors.status == 0, "\(colors.output)")
        let counts = Dictionary(uniqueKeysWithValues: colors.output.split(separator: "\n").compactMap { line -> (String, Int)? in
            let parts = line.split(separator: " ")
            guard parts.count == 2, let count = Int(parts[1]) else { return nil }
            return (String(parts[0]), count)
        })
        for color in Self.barColors {
            #expect((counts[color] ?? 0) > 100, "few or no pixels of #\(color) in the screenshot: \(colors.output)")
        }
    }

    /// A PNG decoder in Python's standard library (zlib, and the five row filters of 8-bit RGB or RGBA) that
    /// prints how many pixels have each of `barColors`, one `RRGGBB COUNT` line each.
    static let colorCounter = """
        import struct, sys, zlib
        data = open(sys.argv[1], "rb").read()
        position, chunks, header = 8, [], None
        while position < len(data):
            length, kind = struct.unpack(">I4s", data[position:position + 8])
            body = data[position + 8:position + 8 + length]
            if kind == b"IHDR": header = struct.unpack(">IIBBBBB", body)
            if kind == b"IDAT": chunks.append(body)
            position += 12 + length
        width, height, depth, color_type = header[0], header[1], header[2], header[3]
        assert depth == 8 and color_type in (2, 6) and header[6] == 0, "unexpected PNG format %r" % (header,)
        step = 3 if color_type == 2 else 4
        raw = zlib.decompress(b"".join(chunks))
        stride = width * step
        previous = bytearray(stride)
        wanted = {bytes.fromhex(c): c for c in "\(barColors.joined(separator: " "))".split()}
        counts = dict.fromkeys(wanted.values(), 0)
        offset = 0
        for _ in range(height):
            kind = raw[offset]; row = bytearray(raw[offset + 1:offset + 1 + stride]); offset += 1 + stride
            for i in range(stride):
                left = row[i - step] if i >= step else 0
                up = previous[i]
                corner = previous[i - step] if i >= step else 0
                if kind == 1: row[i] = (row[i] + left) & 255
                elif kind == 2: row[i] = (row[i] + up) & 255
                elif kind == 3: row[i] = (row[i] + (left + up) // 2) & 255
                elif kind == 4:
                    p = left + up - corner; pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                    row[i] = (row[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
            for x in range(0, stride, step):
                color = bytes(row[x:x + 3])
                if color in wanted: counts[wanted[color]] += 1
            previous = row
        for color, count in counts.items(): print(color, count)
        """
}
