"""Static tables behind the sample estate: client names, cities, people, patches, apps.

Kept apart from the generator so the generator reads as logic and these read as data. Every
table is a tuple (ordered, immutable) so that picking from it with a seeded RNG is reproducible.
The KB numbers and titles are realistic in shape; they are sample data, not a patch catalogue.
"""

from __future__ import annotations

from typing import NamedTuple

# Microsoft's fictitious companies first: demos and docs refer to ``contoso`` and friends.
CLIENTS: tuple[tuple[str, str], ...] = (
    ("contoso", "Contoso Ltd"),
    ("fabrikam", "Fabrikam Inc"),
    ("northwind", "Northwind Traders"),
    ("adatum", "A. Datum Corporation"),
    ("tailspin", "Tailspin Toys"),
    ("woodgrove", "Woodgrove Bank"),
    ("litware", "Litware Inc"),
    ("proseware", "Proseware Inc"),
    ("wingtip", "Wingtip Toys"),
    ("fourthcoffee", "Fourth Coffee"),
    ("wideworld", "Wide World Importers"),
    ("lucerne", "Lucerne Publishing"),
    ("margies", "Margie's Travel"),
    ("alpineski", "Alpine Ski House"),
    ("blueyonder", "Blue Yonder Airlines"),
    ("coho", "Coho Winery"),
    ("consolidated", "Consolidated Messenger"),
    ("graphicdesign", "Graphic Design Institute"),
    ("humongous", "Humongous Insurance"),
    ("lamna", "Lamna Healthcare"),
    ("relecloud", "Relecloud"),
    ("southridge", "Southridge Video"),
    ("trey", "Trey Research"),
    ("vanarsdel", "VanArsdel Ltd"),
    ("cpandl", "City Power & Light"),
    ("adventureworks", "Adventure Works Cycles"),
    ("fineartschool", "School of Fine Art"),
    ("munson", "Munson's Pickles and Preserves"),
    ("firstup", "First Up Consultants"),
    ("tailwind", "Tailwind Traders"),
    ("bestforyou", "Best For You Organics"),
    ("bellows", "Bellows College"),
)

# Beyond the named companies, names are composed from these parts ("ironbrook", "Ironbrook Group").
NAME_PREFIXES: tuple[str, ...] = (
    "north", "blue", "silver", "iron", "red", "green", "clear", "high", "bright", "stone",
    "oak", "pine", "river", "summit", "cedar", "maple", "harbor", "eagle", "falcon", "granite",
)  # fmt: skip
NAME_SUFFIXES: tuple[str, ...] = (
    "wind", "field", "brook", "gate", "ridge", "point", "works", "labs", "logic", "wave",
    "line", "bridge", "crest", "vale", "peak", "haven",
)  # fmt: skip
COMPANY_FORMS: tuple[str, ...] = ("Group", "Holdings", "Partners", "LLC", "Inc", "Co")


class City(NamedTuple):
    """A place a client can have a site: slug code, city name, IANA time zone."""

    code: str
    name: str
    tz: str


CITIES: tuple[City, ...] = (
    City("ny", "New York", "America/New_York"),
    City("chi", "Chicago", "America/Chicago"),
    City("sea", "Seattle", "America/Los_Angeles"),
    City("sf", "San Francisco", "America/Los_Angeles"),
    City("atl", "Atlanta", "America/New_York"),
    City("bos", "Boston", "America/New_York"),
    City("den", "Denver", "America/Denver"),
    City("dal", "Dallas", "America/Chicago"),
    City("phx", "Phoenix", "America/Phoenix"),
    City("tor", "Toronto", "America/Toronto"),
    City("lon", "London", "Europe/London"),
    City("dub", "Dublin", "Europe/Dublin"),
    City("ams", "Amsterdam", "Europe/Amsterdam"),
    City("ber", "Berlin", "Europe/Berlin"),
    City("par", "Paris", "Europe/Paris"),
    City("syd", "Sydney", "Australia/Sydney"),
    City("sgp", "Singapore", "Asia/Singapore"),
)

FIRST_NAMES: tuple[str, ...] = (
    "james", "mary", "robert", "patricia", "john", "jennifer", "michael", "linda", "david",
    "elizabeth", "william", "barbara", "richard", "susan", "joseph", "jessica", "thomas", "sarah",
    "charles", "karen", "chris", "lisa", "daniel", "nancy", "matthew", "betty", "anthony",
    "sandra", "mark", "ashley", "donald", "emily", "steven", "donna", "paul", "michelle",
    "andrew", "carol", "joshua", "amanda", "kevin", "melissa", "brian", "deborah", "george",
    "stephanie", "tim", "rebecca", "jason", "laura", "ryan", "sharon", "jacob", "cynthia",
    "gary", "kathleen", "nicholas", "amy", "eric", "angela", "jonathan", "anna", "priya",
    "wei", "aisha", "carlos", "sofia", "mateo", "yuki", "omar", "fatima", "lars", "ingrid",
    "raj", "mei", "diego", "elena", "noah", "olivia", "liam", "emma", "lucas", "mia",
)  # fmt: skip
LAST_NAMES: tuple[str, ...] = (
    "smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez",
    "martinez", "hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas", "taylor",
    "moore", "jackson", "martin", "lee", "perez", "thompson", "white", "harris", "sanchez",
    "clark", "ramirez", "lewis", "robinson", "walker", "young", "allen", "king", "wright",
    "scott", "torres", "nguyen", "hill", "flores", "green", "adams", "nelson", "baker", "hall",
    "rivera", "campbell", "mitchell", "carter", "roberts", "patel", "kim", "chen", "singh",
    "wang", "mueller", "schmidt", "rossi", "dubois", "okafor", "tanaka", "kowalski", "novak",
    "larsen", "silva", "costa", "murphy", "obrien", "kelly", "walsh", "byrne", "fischer",
)  # fmt: skip
DEPARTMENTS: tuple[str, ...] = (
    "finance", "sales", "marketing", "engineering", "operations", "hr", "legal", "it", "support",
)  # fmt: skip


class Patch(NamedTuple):
    """One update in the sample catalogue and the OS family it applies to."""

    kb: str
    title: str
    severity: str
    reboot_required: bool
    family: str
    """``win11``, ``win10``, ``ws2022``, ``ws2019``, ``ws2016`` or ``any`` (every Windows)."""


_W11 = "Windows 11 Version 23H2 for x64-based Systems"
_W10 = "Windows 10 Version 22H2 for x64-based Systems"
_S22 = "Microsoft server operating system version 21H2 for x64-based Systems"
_S19 = "Windows Server 2019 for x64-based Systems"
_S16 = "Windows Server 2016 for x64-based Systems"
_CU = "Cumulative Update for"
_WINRE = "Security Update for Windows Recovery Environment"

PATCHES: tuple[Patch, ...] = (
    Patch("KB5034123", f"{_CU} {_W11}", "critical", True, "win11"),
    Patch("KB5034204", f"{_CU} {_W11} (Preview)", "moderate", True, "win11"),
    Patch("KB5034765", f"{_CU} {_W11}", "critical", True, "win11"),
    Patch("KB5035853", f"{_CU} {_W11}", "critical", True, "win11"),
    Patch("KB5034441", f"{_WINRE} ({_W10})", "important", False, "win10"),
    Patch("KB5034122", f"{_CU} {_W10}", "critical", True, "win10"),
    Patch("KB5034763", f"{_CU} {_W10}", "critical", True, "win10"),
    Patch("KB5035845", f"{_CU} {_W10}", "important", True, "win10"),
    Patch("KB5034129", f"{_CU} {_S22}", "critical", True, "ws2022"),
    Patch("KB5034770", f"{_CU} {_S22}", "critical", True, "ws2022"),
    Patch("KB5034439", f"{_WINRE} (Windows Server 2022)", "important", False, "ws2022"),
    Patch("KB5034127", f"{_CU} {_S19}", "critical", True, "ws2019"),
    Patch("KB5034768", f"{_CU} {_S19}", "important", True, "ws2019"),
    Patch("KB5034119", f"{_CU} {_S16}", "critical", True, "ws2016"),
    Patch("KB5034767", f"{_CU} {_S16}", "important", True, "ws2016"),
    Patch("KB5034275", f"{_CU} .NET Framework 3.5, 4.8 and 4.8.1", "important", False,
          "any"),
    Patch("KB2267602", "Security Intelligence Update for Microsoft Defender Antivirus", "moderate",
          False, "any"),
    Patch("KB890830", "Windows Malicious Software Removal Tool x64 - v5.120", "moderate", False,
          "any"),
)  # fmt: skip

# OS name -> patch family; macOS endpoints have no KB updates and so never get a patch entity.
ENDPOINT_OS: tuple[tuple[str, str, float], ...] = (
    ("Windows 11 Pro 23H2", "win11", 0.62),
    ("Windows 10 Pro 22H2", "win10", 0.30),
    ("macOS 14 Sonoma", "macos", 0.08),
)
SERVER_OS: tuple[tuple[str, str, float], ...] = (
    ("Windows Server 2022 Datacenter", "ws2022", 0.6),
    ("Windows Server 2019 Standard", "ws2019", 0.3),
    ("Windows Server 2016 Standard", "ws2016", 0.1),
)


class Saas(NamedTuple):
    """A SaaS product clients depend on."""

    slug: str
    name: str
    vendor: str
    criticality: str


SAAS: tuple[Saas, ...] = (
    Saas("m365", "Microsoft 365", "microsoft", "critical"),
    Saas("entra-id", "Microsoft Entra ID", "microsoft", "critical"),
    Saas("okta", "Okta Workforce Identity", "okta", "critical"),
    Saas("salesforce", "Salesforce Sales Cloud", "salesforce", "high"),
    Saas("adp", "ADP Workforce Now", "adp", "high"),
    Saas("docusign", "DocuSign eSignature", "docusign", "medium"),
    Saas("wasabi", "Wasabi Hot Cloud Storage", "wasabi", "high"),
    Saas("stripe", "Stripe Payments", "stripe", "high"),
    Saas("zoom", "Zoom Workplace", "zoom", "medium"),
)


class App(NamedTuple):
    """An optional line-of-business service; dependencies name other services or ``saas:``."""

    slug: str
    role: str
    criticality: str
    deps: tuple[str, ...]
    creds: tuple[str, ...]


# Picked in this order as clients grow, so small clients get the common ones.
OPTIONAL_APPS: tuple[App, ...] = (
    App("helpdesk", "app", "medium", ("erp-db",), ("ldap", "smtp")),
    App("crm", "app", "high", ("erp-db", "saas:salesforce"), ("sql", "salesforce-api")),
    App("reporting", "app", "medium", ("erp-db", "erp-app"), ("sql",)),
    App("vpn", "app", "high", (), ("ldap",)),
    App("crm-sync", "app", "medium", ("crm", "saas:salesforce"), ("salesforce-api",)),
    App("hr-portal", "web", "medium", ("erp-db", "saas:adp"), ("ldap",)),
    App("billing", "app", "high", ("erp-db", "erp-app", "saas:stripe"), ("sql", "smtp")),
    App("timesheets", "app", "low", ("erp-db",), ("sql",)),
    App("inventory", "app", "medium", ("erp-db",), ("sql",)),
    App("payroll", "app", "high", ("erp-db", "saas:adp"), ("sql",)),
    App("wiki", "web", "low", (), ("ldap",)),
    App("contracts", "app", "low", ("erp-db", "saas:docusign"), ("smtp",)),
)

TICKET_TITLES: tuple[str, ...] = (
    "Laptop very slow since last update",
    "Outlook keeps prompting for password",
    "Cannot map network drive",
    "Disk space low",
    "Blue screen after driver update",
    "VPN disconnects every few minutes",
    "Printer queue stuck",
    "Antivirus reports quarantined file",
    "Application crashes on start",
    "Pending reboot for updates, user refuses",
    "Backup job reported warnings",
    "High CPU usage alerts",
)

FIREWALL_VENDORS: tuple[str, ...] = ("fortinet", "palo_alto", "sonicwall", "meraki")
HYPERVISOR_PLATFORMS: tuple[str, ...] = ("VMware ESXi 8.0", "Hyper-V Server 2022")
