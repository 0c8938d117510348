"""File formats irqsim reads and writes (configuration-space dumps); no hardware behaviour."""
