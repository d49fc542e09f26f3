import SOCKSServer

/// `socksd --check-config FILE`: loads the configuration exactly as the daemon would start with it (the
/// file, the flags beside it, the files it names, its names resolved) and checks what `SOCKSServer.init`
/// would refuse, without listening on anything.
enum ConfigurationCheck {
    /// Prints `FILE: OK` on standard output (after any warnings on standard error), or every problem on
    /// standard error, one a line as `PATH: REASON`; returns the exit status, 0 or 64.
    static func run(_ options: CommandLineOptions) async -> Int32 {
        let settings: DaemonSettings
        do {
            settings = try await DaemonSetup.load(options)
        } catch {
            for problem in error.problems { Socksd.printLine(problem.description) }
            return 64
        }
        let open = settings.server.openProxyAddresses
        guard open.isEmpty else {
            let path = options.listen.isEmpty ? "listeners" : "--listen"
            Socksd.printLine(ConfigurationProblem(
                path: path,
                reason: "\(open.map(\.description).joined(separator: ", ")) would be an open proxy: with no users and no allowFrom, anyone "
                    + "who can reach it may use it; add users (or usersFile), or allowFrom, or set allowOpenProxy if that is what you mean"
            ).description)
            return 64
        }
        for warning in settings.warnings { Socksd.printLine("warning: \(warning)") }
        print("\(options.configFile ?? "(no file)"): OK")
        return 0
    }
}
