import ArgumentParser
import FieldSyncBundle
import FieldSyncCore
import FieldSyncSQLite
import Foundation

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Show a bundle's journey from a field site's database to the hub, step by step.",
        discussion: """
            Creates keys for a hub and a site, a sample site database, writes a signed and encrypted bundle of its \
            tables, inspects and verifies it as a courier would, then opens it with the hub's key into a copy and \
            checks that every row arrived exactly.
            """
    )

    @Option(help: "Directory for the demo's keys, databases and bundles; must not exist yet or be empty.")
    var dir: String = "demo-output"

    func run() throws {
        try reportingErrors { try runDemo() }
    }

    private func step(_ number: Int, _ text: String) {
        print("\n\(number). \(text)")
    }

    private func runDemo() throws {
        let fileManager = FileManager.default
        if let existing = try? fileManager.contentsOfDirectory(atPath: dir), !existing.isEmpty {
            throw ValidationError("'\(dir)' is not empty; give --dir a new directory")
        }
        try fileManager.createDirectory(atPath: "\(dir)/outbox", withIntermediateDirectories: true)
        print("FieldSync demo in \(dir)/")

        step(1, "Each node gets its own keys: one to sign what it sends, one to open what is sent to it.")
        let hub = try NodeKeys.generate(id: "hub")
        let site = try NodeKeys.generate(id: "site-nairobi")
        for keys in [hub, site] {
            let paths = try KeyStore.write(keys, to: "\(dir)/keys")
            print("   \(keys.id): secret key \(paths.secret) (mode 0600), public key \(paths.public)")
        }

        step(2, "The field site keeps its registrations in its own SQLite database.")
        let sitePath = "\(dir)/site-nairobi.sqlite"
        let siteDB = try SQLiteConnection(path: sitePath)
        try DemoData.create(in: siteDB)
        let tables = try SQLiteSchema.tableNames(in: siteDB).map { try SQLiteSchema.read(table: $0, from: siteDB) }
        for table in tables {
            let count = try siteDB.scalar("SELECT count(*) FROM \(Identifier.quoted(table.name))") ?? .null
            print("   \(table.name): \(count == .null ? "?" : "\(countText(count))") rows, "
                  + "columns \(table.columns.map { "\($0.name) \($0.type)" }.joined(separator: ", "))")
        }

        step(3, "The site writes all of it into one bundle: signed by the site, readable only by the hub.")
        let writer = try BundleWriter(
            configuration: .init(kind: .snapshot, sequence: 1, directory: "\(dir)/outbox"),
            tables: tables, sender: site, recipient: hub.identity)
        var origin: Int64 = 0
        for table in tables {
            try SQLiteTableScan(schema: table, connection: siteDB).forEach { values in
                origin += 1
                try writer.append(
                    Change(operation: .insert, origin: site.id, originSequence: origin, values: values), to: table.name)
            }
        }
        let written = try writer.finish()
        print("   wrote \(written.paths[0]) (\(formatBytes(written.bytes)), \(written.index.rows) rows in "
              + "\(written.index.batches.count) batches)")

        step(4, "A courier can read the label on the bundle without any key ('fieldsync bundle inspect').")
        let info = try BundleReader.inspectPart(at: written.paths[0])
        print("   kind \(info.header.kind.rawValue), from \(info.header.sender) to \(info.header.recipient), "
              + "sequence \(info.header.sequence), part \(info.part) of \(info.parts)")

        step(5, "Anyone with the site's public key can check it is intact and really from the site "
             + "('fieldsync bundle verify').")
        let reader = try BundleReader(paths: written.paths)
        try reader.verify(sender: site.identity)
        print("   signature good, every byte as signed")
        let tampered = "\(dir)/outbox/tampered-copy.fsb"
        try fileManager.copyItem(atPath: written.paths[0], toPath: tampered)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: tampered))
        try handle.seek(toOffset: UInt64(info.size / 2))
        let byte = try handle.read(upToCount: 1) ?? Data([0])
        try handle.seek(toOffset: UInt64(info.size / 2))
        try handle.write(contentsOf: Data([byte[0] ^ 0x01]))
        try handle.close()
        do {
            try BundleReader(paths: [tampered], findSiblings: false).verify(sender: site.identity)
            print("   !! a tampered copy was accepted")
            throw ExitCode(1)
        } catch let error as BundleError {
            print("   a copy with one bit changed is refused: \(error.message)")
        }
        try fileManager.removeItem(atPath: tampered)

        step(6, "The hub opens it with its secret key and applies every row to its copy, in one transaction.")
        let hubPath = "\(dir)/hub-copy.sqlite"
        let hubDB = try SQLiteConnection(path: hubPath)
        let contents = try reader.open(recipient: hub)
        var applied = 0
        try hubDB.withTransaction {
            for table in contents.manifest.tables { try hubDB.execute(SQLiteSchema.createStatement(for: table)) }
            var writers: [String: SQLiteTableWriter] = [:]
            while let batch = try contents.nextBatch() {
                let tableWriter = try writers[batch.schema.name]
                    ?? SQLiteTableWriter(schema: batch.schema, connection: hubDB)
                writers[batch.schema.name] = tableWriter
                applied += try batch.forEach { try tableWriter.apply($0) }
            }
        }
        print("   applied \(applied) rows to \(hubPath)")

        step(7, "Both databases now hold the same rows, value for value (NULLs, empty text, blobs, time zones).")
        for table in tables {
            var siteRows: [[Value]] = []
            var hubRows: [[Value]] = []
            try SQLiteTableScan(schema: table, connection: siteDB).forEach { siteRows.append($0) }
            try SQLiteTableScan(schema: table, connection: hubDB).forEach { hubRows.append($0) }
            let same = siteRows.count == hubRows.count
                && zip(siteRows, hubRows).allSatisfy { zip($0, $1).allSatisfy { $0.isSameValue(as: $1) } }
            print("   \(table.name): \(siteRows.count) rows at the site, \(hubRows.count) at the hub: "
                  + (same ? "identical" : "DIFFERENT"))
            guard same else { throw ExitCode(1) }
        }
        print("\nDone. Everything the demo made is in \(dir)/.")
    }

    private func countText(_ value: Value) -> String {
        if case .integer(let count) = value { return String(count) }
        return "?"
    }
}

/// The demo's sample site database: beneficiaries, distributions and assessments.
enum DemoData {
    static func create(in db: SQLiteConnection) throws {
        try db.execute("""
            CREATE TABLE beneficiaries (
                id TEXT PRIMARY KEY, given_name TEXT NOT NULL, family_name TEXT NOT NULL, birth_date DATE,
                household_size INTEGER, region_code TEXT, status TEXT, phone TEXT, notes TEXT, photo BLOB,
                registered_at TIMESTAMPTZ);
            CREATE TABLE distributions (
                id INTEGER PRIMARY KEY, beneficiary_id TEXT NOT NULL REFERENCES beneficiaries(id),
                item TEXT NOT NULL, quantity NUMERIC_TEXT, distribution_date DATE, collected BOOLEAN);
            CREATE TABLE assessments (
                id TEXT PRIMARY KEY, beneficiary_id TEXT REFERENCES beneficiaries(id), score REAL,
                answers JSON_TEXT, assessed_at TIMESTAMPTZ);
            """)
        let givenNames = ["Amina", "Joseph", "Wanjiru", "Otieno", "Fatuma", "Kamau", "Achieng", "Mohamed", "Zawadi",
                          "Émile"]
        let familyNames = ["Odhiambo", "Mwangi", "Njeri", "Hassan", "Kiptoo", "Chebet", "Abdi", "Mutua"]
        let regions = ["NAIROBI", "KISUMU", "GARISSA", "TURKANA"]
        try db.withTransaction {
            let beneficiary = try db.prepare("INSERT INTO beneficiaries VALUES (?,?,?,?,?,?,?,?,?,?,?)")
            for index in 0..<200 {
                let id = String(format: "b%05d-4e1f-4a3b-9c2d-%012d", index, index * 7919)
                let notes: Value = switch index % 4 {
                    case 0: .null
                    case 1: .text("")
                    case 2: .text("Lives near the water point.\tCall before visiting.\nSpeaks Kiswahili; \\ not English.")
                    default: .text("Registered at the Kakuma office — 日本語 test 🎉")
                }
                try beneficiary.bind([
                    .text(id), .text(givenNames[index % givenNames.count]),
                    .text(familyNames[index % familyNames.count]),
                    .text(String(format: "19%02d-%02d-%02d", 50 + index % 50, 1 + index % 12, 1 + index % 28)),
                    .integer(Int64(1 + index % 9)), .text(regions[index % regions.count]),
                    .text(index % 10 == 0 ? "inactive" : "active"),
                    index % 3 == 0 ? .null : .text("+2547\(String(format: "%08d", index * 104_729 % 100_000_000))"),
                    notes, index % 5 == 0 ? .blob([0x89, 0x50, 0x4e, 0x47, 0x00, 0x0d, 0x0a, UInt8(index % 256)]) : .null,
                    .text(String(format: "2026-%02d-%02d 09:%02d:00+03", 1 + index % 12, 1 + index % 28, index % 60)),
                ])
                while try beneficiary.step() {}
            }
            let distribution = try db.prepare("INSERT INTO distributions VALUES (?,?,?,?,?,?)")
            for index in 0..<300 {
                try distribution.bind([
                    .integer(Int64(index + 1)),
                    .text(String(format: "b%05d-4e1f-4a3b-9c2d-%012d", index % 200, (index % 200) * 7919)),
                    .text(["maize flour", "cooking oil", "soap", "blanket", "water jerrycan"][index % 5]),
                    .text(["25.0", "3.50", "2", "1", "0.125"][index % 5]),
                    .text(String(format: "2026-%02d-%02d", 1 + index % 11, 1 + index % 28)),
                    .integer(Int64(index % 2)),
                ])
                while try distribution.step() {}
            }
            let assessment = try db.prepare("INSERT INTO assessments VALUES (?,?,?,?,?)")
            for index in 0..<50 {
                try assessment.bind([
                    .text("a\(index)"),
                    .text(String(format: "b%05d-4e1f-4a3b-9c2d-%012d", index * 4, index * 4 * 7919)),
                    index == 0 ? .null : .real(Double(index) / 7),
                    .text("{\"shelter\": \"\(index % 3 == 0 ? "tent" : "house")\", \"water_litres\": \(index * 5)}"),
                    .text("2026-06-\(String(format: "%02d", 1 + index % 28)) 14:00:00-05:30"),
                ])
                while try assessment.step() {}
            }
        }
    }
}
