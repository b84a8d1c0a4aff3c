import FieldSyncTesting
import Foundation
import Testing

/// Power cuts during an import, played with SIGKILL: `fieldsync bundle import` runs as a child process and is
/// killed after a seeded random delay. Whenever it dies, the database must be exactly as before the import or
/// exactly as after a complete one, never in between; the import run again must then succeed and leave the same
/// result as an import that was never interrupted.
@Suite struct CrashTests {
    /// Rows in the big bundle: enough that an import takes a while, few enough to keep the test short.
    static let rows = 25_000

    /// The seed of the kill delays; a failure message names it, so a run can be replayed.
    static let seed: UInt64 = 0x5EED_F1E1_D5AF_E001

    @Test func aKilledHubImportLeavesTheStoreAsBeforeOrAsAfterNeverBetween() throws {
        let network = try CLINetwork(prefix: "fieldsync-crash-hub")
        // The hub refuses NULL stations, so some rows are set aside: that bookkeeping must be all-or-nothing too.
        try network.succeed([
            "hub", "add-table", "--dir", network.hubDirectory, "readings", "--column", "id:integer:notnull",
            "--column", "station:text:notnull", "--column", "value:real", "--column", "note:text",
            "--primary-key", "id",
        ])
        try SQLiteShell.run(
            network.hubStore, "INSERT INTO readings (id, station, value, note) VALUES (1, 'hq', 0.5, 'edited at HQ')")
        try network.addSite(
            "site-a",
            schema: """
                CREATE TABLE readings (id INTEGER PRIMARY KEY, station TEXT, value REAL, note TEXT);
                WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \(Self.rows))
                INSERT INTO readings SELECT i, CASE WHEN i % 997 = 0 THEN NULL ELSE 'st-' || (i % 53) END,
                    i * 0.25, printf('reading %d of a long survey', i) FROM n;
                """)
        let bundle = try network.exportSite("site-a")

        try Self.killImports(
            of: bundle, label: "hub",
            copy: { destination in
                try network.copyHub(to: destination)
                return (destination, "\(destination)/hub.sqlite")
            },
            in: network)
    }

    @Test func aKilledSiteImportLeavesTheDatabaseAsBeforeOrAsAfterNeverBetween() throws {
        let network = try CLINetwork(prefix: "fieldsync-crash-site")
        try network.succeed([
            "hub", "add-table", "--dir", network.hubDirectory, "readings", "--column", "id:integer:notnull",
            "--column", "station:text", "--column", "value:real", "--column", "note:text", "--primary-key", "id",
        ])
        try SQLiteShell.run(
            network.hubStore,
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \(Self.rows))
            INSERT INTO readings (id, station, value, note)
                SELECT i, 'st-' || (i % 53), i * 0.25, printf('reading %d from HQ', i) FROM n;
            DELETE FROM readings WHERE id % 1009 = 0;
            """)
        // The site has edits of its own to some of the same records, not yet seen by the hub: those stay local.
        try network.addSite(
            "site-a",
            schema: """
                CREATE TABLE readings (id INTEGER PRIMARY KEY, station TEXT, value REAL, note TEXT);
                WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
                INSERT INTO readings SELECT i * 7, 'field', -1.0, 'typed at the site' FROM n;
                """)
        let bundle = try network.exportHub(for: "site-a")

        try Self.killImports(
            of: bundle, label: "site",
            copy: { destination in (destination, try network.copySite("site-a", to: destination)) },
            in: network)
    }

    /// How a killed import left the database.
    enum Outcome: String {
        case untouched, committed
    }

    /// Imports `bundle` on a copy without interruption for reference, then on fresh copies killed after seeded
    /// delays from "at once" to "after it would have finished", checking the state after each kill and after the
    /// import run again.
    ///
    /// - Parameter copy: makes a copy of the node at the given path; returns its node directory and database.
    static func killImports(
        of bundle: String, label: String, copy: (String) throws -> (node: String, database: String),
        in network: CLINetwork, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        // The state before, and the reference results of an import run once and run twice.
        let pristine = try copy(network.directory.file("\(label)-reference"))
        let before = try SQLiteShell.dump(pristine.database)
        let beforeContent = try SQLiteShell.content(pristine.database)
        var (first, estimate) = try timedImport(pristine.node, bundle, in: network)
        #expect(first.status == 0, "\(first.stderr)", sourceLocation: sourceLocation)
        #expect(first.stdout.contains("applied bundle 1"), "\(first.stdout)", sourceLocation: sourceLocation)
        let afterOnce = try SQLiteShell.content(pristine.database)
        #expect(afterOnce != beforeContent, sourceLocation: sourceLocation)
        let repeated = try network.succeed(["bundle", "import", "--dir", pristine.node, bundle])
        #expect(repeated.stdout.contains("already applied"), "\(repeated.stdout)", sourceLocation: sourceLocation)
        let afterTwice = try SQLiteShell.content(pristine.database)

        // When to kill: at once, very early, spread over the import, and after it should have finished, as
        // fractions of the shortest complete import seen so far (so the kills follow the machine's load). The
        // durations only place the kills; nothing about time is asserted.
        var generator = SeededGenerator(seed: seed)
        var fractions: [Double] = []
        for _ in 0..<5 { fractions.append(Double.random(in: 0.05...0.95, using: &generator)) }
        fractions.append(Double.random(in: 1.0...1.3, using: &generator))
        let kills: [(seconds: Double, fraction: Double)] = [(0, 0), (0.001, 0), (0.01, 0)] + fractions.map { (0, $0) }

        var outcomes: [String] = []
        for (index, kill) in kills.enumerated() {
            let delay = kill.seconds + kill.fraction * estimate
            let context = "\(label) kill \(index) after \(String(format: "%.3f", delay)) s (seed \(seed))"
            let work = try copy(network.directory.file("\(label)-kill-\(index)"))
            let ending = try ChildProcess.runAndKill(
                FieldSyncCommand.executable, ["bundle", "import", "--dir", work.node, bundle],
                in: network.directory.path, after: delay)
            #expect(ending == .killed || ending == .exited(0), "\(context): \(ending)", sourceLocation: sourceLocation)
            let journal = ["-journal", "-wal"].contains {
                ((try? FileManager.default.attributesOfItem(atPath: work.database + $0)[.size]) as? NSNumber)?
                    .intValue ?? 0 > 0
            }

            // Exactly as before, or exactly as after a complete import.
            let outcome: Outcome
            if try SQLiteShell.dump(work.database) == before {
                outcome = .untouched
            } else {
                let content = try SQLiteShell.content(work.database)
                let problem =
                    "the database is neither as before nor as after the import: "
                    + "\(SQLiteShell.firstDifference(afterOnce, content)); now \(SQLiteShell.summary(work.database))"
                #expect(content == afterOnce, "\(context): \(problem)", sourceLocation: sourceLocation)
                outcome = .committed
            }
            if ending == .exited(0) {
                #expect(outcome == .committed, "\(context): exited 0 but left nothing", sourceLocation: sourceLocation)
            }
            outcomes.append(
                "\(String(format: "%.3f", delay)) s: \(outcome.rawValue)"
                    + (ending == .killed ? "" : " (had finished)") + (journal ? " (journal left)" : ""))

            // Run again: it completes, and the result is the reference's.
            let (again, duration) = try timedImport(work.node, bundle, in: network)
            #expect(again.status == 0, "\(context): import again: \(again.stderr)", sourceLocation: sourceLocation)
            let content = try SQLiteShell.content(work.database)
            switch outcome {
            case .untouched:
                estimate = min(estimate, duration)
                #expect(
                    again.stdout.contains("applied bundle 1"), "\(context): \(again.stdout)",
                    sourceLocation: sourceLocation)
                #expect(
                    content == afterOnce, "\(context): \(SQLiteShell.firstDifference(afterOnce, content))",
                    sourceLocation: sourceLocation)
            case .committed:
                #expect(
                    again.stdout.contains("already applied"), "\(context): \(again.stdout)",
                    sourceLocation: sourceLocation)
                #expect(
                    content == afterTwice, "\(context): \(SQLiteShell.firstDifference(afterTwice, content))",
                    sourceLocation: sourceLocation)
            }
            try FileManager.default.removeItem(atPath: work.node)
        }
        print("\(label) import of \(rows) rows killed after \(outcomes.joined(separator: "; "))")
    }

    /// Runs `fieldsync bundle import` at `node`; returns its output and how long it took in seconds.
    static func timedImport(_ node: String, _ bundle: String, in network: CLINetwork) throws
        -> (FieldSyncCommand.Output, Double)
    {
        let clock = ContinuousClock()
        var output: FieldSyncCommand.Output?
        let duration = try clock.measure {
            output = try network.fieldsync(["bundle", "import", "--dir", node, bundle])
        }
        return (output!, Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }
}
