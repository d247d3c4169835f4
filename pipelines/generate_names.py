"""Small built-in name, place and staff lists for the demo data generator (no faker dependency)."""

from __future__ import annotations

import numpy as np

FIRST_NAMES = np.array(
    """James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard
    Susan Joseph Jessica Thomas Sarah Christopher Karen Charles Lisa Daniel Nancy Matthew Margaret
    Anthony Sandra Mark Ashley Donald Kimberly Steven Emily Andrew Donna Joshua Michelle Kenneth Carol
    Kevin Amanda Brian Melissa George Deborah Timothy Stephanie Ronald Rebecca Jason Laura Edward Helen
    Jeffrey Sharon Ryan Cynthia Jacob Kathleen Gary Amy Nicholas Angela Eric Anna Jonathan Katherine
    Wei Mei Hiroshi Yuki Carlos Maria Jose Lucia Ahmed Fatima Raj Priya Dmitri Olga Kwame Ama Liam Sofia
    Samantha Alexander Victoria Isabella Ethan Olivia Noah Grace""".split()
)
LAST_NAMES = np.array(
    """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez
    Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark
    Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams
    Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Chen Wang Kim Park Tanaka Sato Patel Shah
    Singh Cohen Murphy O'Brien Kelly Sullivan Rossi Russo Ferrari Schmidt Fischer Weber Novak Ivanov
    Petrov Kowalski Nowak Dubois Moreau Silva Santos Costa Okafor Mensah Haddad Khalil Yamamoto Huang
    Liu Zhang Castillo Morales Ortiz Gutierrez Chavez Ramos Reyes Cruz Bennett Brooks Foster Hughes""".split()
)
NICKNAMES = {
    "Robert": "Bob", "William": "Bill", "Michael": "Mike", "Katherine": "Kathy", "Elizabeth": "Liz",
    "James": "Jim", "Richard": "Rick", "Jennifer": "Jenny", "Christopher": "Chris", "Daniel": "Dan",
    "Joseph": "Joe", "Thomas": "Tom", "Margaret": "Peggy", "Patricia": "Pat", "Anthony": "Tony",
    "Steven": "Steve", "Alexander": "Alex", "Samantha": "Sam", "Victoria": "Vicky", "Nicholas": "Nick",
    "Jonathan": "Jon", "Matthew": "Matt", "Andrew": "Andy", "Deborah": "Debbie", "Kimberly": "Kim",
    "Timothy": "Tim", "Edward": "Ed", "Kenneth": "Ken", "Rebecca": "Becky", "Jacob": "Jake",
}
EMAIL_DOMAINS = np.array(
    ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com", "comcast.net"]
)
STREETS = np.array(
    """Main Oak Maple Cedar Pine Elm Washington Lake Hill Sunset Park Desert Palm Spring Ridge Valley
    Highland Meadow Forest River Canyon Ocean Harbor Mission Lincoln Jefferson Franklin Madison""".split()
)
STREET_KINDS = np.array(["St", "Ave", "Blvd", "Dr", "Ln", "Rd", "Way", "Ct"])
# (city, state, zip prefix, area code) near each property: P01 Las Vegas, P02 Reno, P03 Atlantic City.
CITIES = {
    0: [("Las Vegas", "NV", "891", "702"), ("Henderson", "NV", "890", "702"),
        ("Los Angeles", "CA", "900", "213"), ("Phoenix", "AZ", "850", "602"),
        ("San Diego", "CA", "921", "619")],
    1: [("Reno", "NV", "895", "775"), ("Sparks", "NV", "894", "775"),
        ("Sacramento", "CA", "958", "916"), ("San Francisco", "CA", "941", "415")],
    2: [("Atlantic City", "NJ", "084", "609"), ("Philadelphia", "PA", "191", "215"),
        ("New York", "NY", "100", "212"), ("Newark", "NJ", "071", "973"),
        ("Baltimore", "MD", "212", "410")],
}
STAFF = {
    "host": np.array([
        ["Maria Lopez", "James Carter", "Aisha Khan", "Tom Reilly"],
        ["Dana Whitfield", "Luis Ortega", "Grace Kim", "Sam Porter"],
        ["Tony Russo", "Keisha Brown", "Mei Chen", "Frank Doyle"],
    ]),
    "shift_manager": np.array([
        ["Rachel Stone", "Victor Hale", "Nina Patel", "Rachel Stone"],
        ["Owen Marsh", "Carla Diaz", "Owen Marsh", "Ben Ito"],
        ["Paul Greco", "Sandra Fox", "Ivan Petrov", "Sandra Fox"],
    ]),
}
NOTE_TEXTS = {
    "note": np.array([
        "Prefers blackjack table near the bar.", "Celebrating a birthday this weekend.",
        "Asked about the upcoming slot tournament.", "Likes a quiet table, avoid crowded pits.",
        "Travels in from out of state once a month.", "Brought two guests, both signed up.",
        "Interested in the VIP lounge, explained the requirements.", "Prefers to be called by first name.",
        "Mentioned staying at a competitor last trip.", "Asked for a host follow-up call next week.",
        "Plays late nights only.", "Allergic to shellfish, inform restaurant for comps.",
    ]),
    "service": np.array([
        "Comped dinner at the steakhouse.", "Upgraded room to a suite.", "Arranged limo pickup from airport.",
        "Booked show tickets for two.", "Reserved preferred parking spot.", "Resolved slot ticket printer jam.",
        "Replaced a lost players card.", "Sent birthday gift to the room.", "Arranged late checkout.",
        "Set up a private table on request.",
    ]),
    "dispute": np.array([
        "Disputed payout on a blackjack hand; surveillance reviewed, original decision stands.",
        "Claimed slot machine did not credit a bill; cash door audited, credited 100.",
        "Unhappy that points did not post for last visit; adjusted after review.",
        "Disputed roulette bet placement; floor supervisor paid the bet as goodwill.",
        "Complained about dealer attitude; spoke with player and apologised.",
        "Claimed free play offer was not loaded; reissued.",
    ]),
    "compliance": np.array([
        "Cash activity reviewed with compliance; source of funds documented.",
        "Player asked how to avoid reporting thresholds; escalated to compliance.",
    ]),
    "outreach": np.array([
        "Called player, left voicemail about upcoming promotions.", "Sent personal invitation to the VIP event.",
        "Reached player by phone; plans to visit next month.", "Emailed host contact details and offers.",
    ]),
}
INCIDENTS = np.array([
    "Verbal altercation with another guest at the table.", "Intoxicated guest escorted off the floor.",
    "Attempted to play with another person's card.", "Suspected advantage play, observed by surveillance.",
    "Left a minor unattended in the lobby.", "Aggressive behaviour towards a dealer.",
])
EXCLUSIONS = np.array([
    "Self-exclusion requested by the player (1 year).", "Self-exclusion requested by the player (5 years).",
    "Trespassed by security after repeated incidents.", "Excluded following a cheating investigation.",
])
