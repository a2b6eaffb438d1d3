"""The message every sender in the zero-latency scenario sends: the engine and each peer alike."""

# A realistic broadcast: a traffic notice of about 300 characters.
TEXT = (
    "Verkehr: Wegen Bauarbeiten an der Fernwärmeleitung ist die Hauptstraße zwischen Marktplatz und "
    "Bahnhofstraße vom 24. bis 28. November voll gesperrt. Die Buslinien 3 und 7 fahren eine Umleitung "
    "über die Ringstraße; die Haltestelle Rathaus entfällt. Mehr unter /faq baustellen. "
    "Ihre Stadtverwaltung"
)
