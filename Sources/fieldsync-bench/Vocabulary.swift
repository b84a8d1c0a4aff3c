/// Word lists for the generated `beneficiaries` rows: names, places and the words of case workers' notes.
///
/// Lists are stored as UTF-8 bytes so that building a row is appending, not string formatting.
enum Vocabulary {
    static let givenNames = utf8([
        "Amina", "Fatuma", "Halima", "Asha", "Zainab", "Mariam", "Aïcha", "Khadija", "Nasra", "Hodan", "Safiya",
        "Grace", "Esther", "Rose", "Joyce", "Mercy", "Faith", "Agnes", "Béatrice", "Chantal", "Furaha", "Neema",
        "Maryam", "Layla", "Noor", "Rania", "Huda", "Samira", "Yasmin", "Reem", "Farida", "Shirin", "Parwana",
        "Rahima", "Jannatul", "Nusrat", "Sadia", "Rokeya", "Ana", "María", "José", "Luis", "Carlos", "Yolanda",
        "Rosa", "Jean", "Pierre", "Emmanuel", "Patrick", "Innocent", "Dieudonné", "Jean-Claude", "Moïse",
        "Mohamed", "Ahmed", "Abdi", "Hassan", "Hussein", "Omar", "Ali", "Ibrahim", "Yusuf", "Abdullahi", "Musa",
        "Bashir", "Khalid", "Tariq", "Samir", "Walid", "Karim", "Rashid", "Rahim", "Sultan", "Habib", "Aminul",
        "John", "Peter", "Joseph", "Samuel", "David", "Daniel", "James", "Paul", "Simon", "Olena", "Iryna",
        "Oksana", "Tetiana", "Mykola", "Andriy", "Bilal", "Idris", "Issa", "Adama", "Moussa", "Mamadou",
        "Aminata", "Fanta", "Mariama", "Oumou", "Nguyễn", "Thu", "Mai",
    ])

    static let familyNames = utf8([
        "Mohamed", "Ali", "Hassan", "Abdi", "Omar", "Ahmed", "Warsame", "Farah", "Jama", "Osman", "Nur", "Aden",
        "Kabila", "Mukendi", "Tshibangu", "Ilunga", "Kasongo", "Mbuyi", "Nzeyimana", "Habimana", "Uwimana",
        "Niyonzima", "Ochieng", "Otieno", "Wanjiru", "Kamau", "Mutua", "Akinyi", "Deng", "Garang", "Majok",
        "Nyandeng", "Lual", "Kuol", "Tesfaye", "Gebremedhin", "Haile", "Bekele", "Tadesse", "Girma", "Al-Hassan",
        "Al-Khatib", "Haddad", "Khoury", "Saleh", "Nasser", "Darwish", "Qasim", "Yousef", "Hamdan", "Rahman",
        "Begum", "Khatun", "Hossain", "Uddin", "Akter", "Islam", "Miah", "Sarker", "Ahmadi", "Hashimi",
        "Karimi", "Noori", "Rahimi", "Sultani", "Popal", "García", "Rodríguez", "Martínez", "Hernández",
        "López", "González", "Pérez", "Sánchez", "Ramírez", "Torres", "Jean-Baptiste", "Pierre-Louis", "Joseph",
        "Desrosiers", "Charles", "Étienne", "Kovalenko", "Shevchenko", "Bondarenko", "Tkachenko", "Melnyk",
        "Diallo", "Traoré", "Coulibaly", "Keïta", "Konaté", "Sangaré", "Maïga", "Touré", "Bello", "Abubakar",
        "Musa", "Ibrahim", "Usman", "Okafor", "Trần", "Lê",
    ])

    /// Regions with their UTC offset in minutes, used for `registered_at`.
    static let regions: [(name: [UInt8], offsetMinutes: Int)] = [
        ("Nord-Kivu", 120), ("Sud-Kivu", 120), ("Ituri", 120), ("Tanganyika", 120), ("Gedo", 180), ("Bay", 180),
        ("Banadir", 180), ("Lower Shabelle", 180), ("Tigray", 180), ("Afar", 180), ("Amhara", 180),
        ("Somali", 180), ("Cox's Bazar", 360), ("Sylhet", 360), ("Kandahar", 270), ("Herat", 270),
        ("Nangarhar", 270), ("Idlib", 180), ("Aleppo", 180), ("Hodeidah", 180), ("Taiz", 180), ("Marib", 180),
        ("Borno", 60), ("Adamawa", 60), ("Yobe", 60), ("Maradi", 60), ("Tillabéri", 60), ("Diffa", 60),
        ("Mopti", 0), ("Gao", 0), ("Tombouctou", 0), ("Ouham", 60), ("Upper Nile", 120), ("Jonglei", 120),
        ("Unity", 120), ("North Darfur", 120), ("Cabo Delgado", 120), ("Artibonite", -300),
        ("Ouest", -300), ("Norte de Santander", -300), ("La Guajira", -300), ("Kharkiv", 120),
        ("Zaporizhzhia", 120), ("Turkana", 180), ("Kakuma", 180), ("Dadaab", 180),
    ].map { (Array($0.0.utf8), $0.1) }

    /// Words of free-text notes, most frequent first.
    static let words = utf8(
        """
        the and of to a in household with for is was on at family children not has no by from reported \
        visit water food they are have been this two three members house head mother father child school \
        needs support shelter access health clinic distribution received assistance since month last week \
        during cash voucher ration rice flour oil beans sugar salt kit hygiene soap jerrycan blanket mat \
        tarpaulin latrine borehole well market price debt income work daily labour farming goats cattle \
        harvest rain drought flood displaced arrived camp site village town road distance walk hours \
        transport referral follow-up case worker staff enumerator interview consent phone number card \
        registration biometric verified duplicate check pending approved eligible vulnerable elderly \
        disabled pregnant lactating widow orphan unaccompanied separated minor guardian relative neighbour \
        community leader committee complaint feedback hotline protection risk safety security incident \
        night fuel firewood cooking stove meal meals per day skipped reduced portions coping strategy \
        malnutrition screening MUAC referred nutrition programme plumpy outpatient vaccination measles \
        cholera diarrhoea fever malaria cough treatment medicine pharmacy hospital nurse midwife birth \
        certificate documents lost identity replacement requested legal aid rent landlord eviction notice \
        roof damaged repair materials plastic sheeting iron sheets tent crowded rooms sleeping space \
        privacy lighting solar lamp torch battery charging mobile money transfer agent network coverage \
        queue waited collected share shared sold exchanged borrowed owes repay loan savings group \
        livelihood training tailoring small business shop kiosk tools seeds fertiliser plot land access \
        grazing livestock lost died sick veterinary school fees uniform books attendance dropped out \
        enrolled teacher classroom learning centre youth adolescent girls boys women men older younger \
        eldest youngest husband wife son daughter brother sister grandmother uncle cousin returned moved \
        relocated plans intends remain stay go back home origin return conditions improved worsened \
        unchanged stable worried afraid tired hopeful grateful asked about when next round schedule \
        monitoring post-distribution survey satisfied quality quantity enough insufficient spoiled \
        expired delayed missed absent present confirmed updated corrected address location block zone \
        sector shelter number GPS photo taken signed thumbprint witness remarks noted observed explained \
        informed advised agreed declined prefers language interpreter translation Arabic French English \
        Swahili Somali Bangla Pashto Dari Spanish Hausa Tigrinya Ukrainian
        """.split(separator: " ").map(String.init))

    static let items = utf8([
        "clean water", "food rations", "cash assistance", "the health post", "the latrines", "firewood",
        "cooking fuel", "school materials", "shelter materials", "hygiene kits", "mosquito nets", "seeds",
        "mobile money", "the market", "the borehole", "legal documents", "baby formula", "medicines",
    ])

    static let months = utf8([
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
        "November", "December",
    ])

    static let adjectives = utf8([
        "reduced", "irregular", "no", "limited", "better", "unreliable", "shared", "expensive", "improved",
        "difficult", "partial", "regular",
    ])

    static let frequencies = utf8([
        "every day", "twice a week", "rarely", "most days", "only in the morning", "since the last round",
        "when transport is available", "on market days",
    ])

    /// Sentence templates; `{x}` marks a slot filled by ``BeneficiaryGenerator``.
    static let templates: [String] = [
        "Household of {n} registered at the {region} distribution point on {date}.",
        "Head of household reports {adj} access to {item} since {month}.",
        "{name} ({age}) attends school {freq}.",
        "Visited by enumerator {code} on {date}; {n} members present, {n} absent.",
        "Family arrived from {region} in {month} after the {event}.",
        "Received {n} kg of rice, {n} L of oil and a hygiene kit at the {month} distribution.",
        "Referred to the nutrition programme: MUAC {muac} mm for the youngest child.",
        "Phone number changed; new number confirmed by call on {date}.",
        "Complaint about {item} recorded and passed to the {region} committee (ticket {code}).",
        "Pays {num} per month in rent and owes {num} to a shop owner.",
        "{name} is the main caregiver and works {freq} as a daily labourer.",
        "Shelter damaged in the {event}; needs {n} iron sheets and a tarpaulin.",
        "Walks {n} km to reach {item}, about {n} hours each way.",
        "Cash transfer of {num} collected through the agent in {region}.",
        "Household skipped meals {freq} in the last week; coping strategy index {n}.",
        "Documents lost during the move; birth certificate for {name} requested on {date}.",
        "No protection concerns reported at this visit.",
        "Eligible for the next round; verification done by {name} {family}.",
    ]

    static let events = utf8(["floods", "fighting", "drought", "fire in the camp", "eviction", "storm", "attack"])

    private static func utf8(_ strings: [String]) -> [[UInt8]] {
        strings.map { Array($0.utf8) }
    }
}
