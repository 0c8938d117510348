"""Power Management and PCI Express capability registers (PCI PM 1.2 ch. 3; PCIe Base 6.0
7.5.2 and 7.5.3). Offsets are from the capability's first byte.

Declared once for everything that reads them: the lspci view decodes dumps with these
fields, the device models fill their capabilities from them.
"""

from __future__ import annotations

from irqsim.spec.regs import RO, RSVD, RW, RW1C, F, Register

CAP_ID_PM = 0x01
CAP_ID_EXP = 0x10

# -- Power Management (PCI Bus Power Management Interface 1.2, 3.2) ---------------------------
PMC = Register("Power Management Capabilities", 0x02, 2, (
    F("version", (2, 0), RO), F("pme_clock", 3, RO), F("immediate_readiness", 4, RO),
    F("dsi", 5, RO, "device specific initialization"),
    F("aux_current", (8, 6), RO, "3.3Vaux current, index into 0/55/100/160/220/270/320/375 mA"),
    F("d1", 9, RO), F("d2", 10, RO),
    F("pme_d0", 11, RO), F("pme_d1", 12, RO), F("pme_d2", 13, RO), F("pme_d3hot", 14, RO),
    F("pme_d3cold", 15, RO),
))
PMCSR = Register("Power Management Control/Status", 0x04, 2, (
    F("power_state", (1, 0), RW), F("reserved", 2, RSVD), F("no_soft_reset", 3, RO),
    F("reserved2", (7, 4), RSVD), F("pme_enable", 8, RW), F("data_select", (12, 9), RW),
    F("data_scale", (14, 13), RO), F("pme_status", 15, RW1C),
))
PMCSR_BSE = Register("PMCSR PCI-to-PCI Bridge Support Extensions", 0x06, 1, (
    F("reserved", (5, 0), RSVD), F("b2_b3", 6, RO, "1: B2 when the bridge enters D3hot"),
    F("bpcc_enable", 7, RO, "bus power/clock control enable"),
))
PM_SIZE = 8
PM_AUX_CURRENT_MA = (0, 55, 100, 160, 220, 270, 320, 375)

# -- PCI Express Capability (PCIe Base 6.0, 7.5.3) ---------------------------------------------
EXP_FLAGS = Register("PCI Express Capabilities", 0x02, 2, (
    F("version", (3, 0), RO), F("type", (7, 4), RO, "device/port type"),
    F("slot", 8, RO, "slot implemented"), F("irq", (13, 9), RO, "interrupt message number"),
    F("reserved", (15, 14), RSVD),
))
# Device/Port Type values (7.5.3.2)
EXP_TYPE_ENDPOINT = 0x0
EXP_TYPE_LEG_END = 0x1
EXP_TYPE_ROOT_INT_EP = 0x9
EXP_TYPE_ROOT_EC = 0xA
EXP_TYPE_ROOT_PORT = 0x4
EXP_TYPE_UPSTREAM = 0x5
EXP_TYPE_DOWNSTREAM = 0x6
EXP_TYPE_PCI_BRIDGE = 0x7
EXP_TYPE_PCIE_BRIDGE = 0x8

DEVCAP = Register("Device Capabilities", 0x04, 4, (
    F("max_payload", (2, 0), RO), F("phantom", (4, 3), RO), F("ext_tag", 5, RO),
    F("l0s_latency", (8, 6), RO), F("l1_latency", (11, 9), RO),
    F("attn_button", 12, RO), F("attn_indicator", 13, RO), F("power_indicator", 14, RO),
    F("rber", 15, RO, "role-based error reporting"), F("reserved", (17, 16), RSVD),
    F("power_limit_value", (25, 18), RO), F("power_limit_scale", (27, 26), RO),
    F("flr", 28, RO, "function level reset capable"), F("reserved2", (31, 29), RSVD),
))
DEVCTL = Register("Device Control", 0x08, 2, (
    F("corr_err", 0, RW), F("nonfatal_err", 1, RW), F("fatal_err", 2, RW),
    F("unsup_req", 3, RW), F("relaxed_ordering", 4, RW), F("max_payload", (7, 5), RW),
    F("ext_tag", 8, RW), F("phantom", 9, RW), F("aux_power_pm", 10, RW), F("no_snoop", 11, RW),
    F("max_read_req", (14, 12), RW),
    F("bcre_flr", 15, RW, "bridge config retry enable (bridges) / initiate FLR (endpoints)"),
))
DEVSTA = Register("Device Status", 0x0A, 2, (
    F("corr_err", 0, RW1C), F("nonfatal_err", 1, RW1C), F("fatal_err", 2, RW1C),
    F("unsup_req", 3, RW1C), F("aux_power", 4, RO), F("trans_pending", 5, RO),
    F("reserved", (15, 6), RSVD),
))
LNKCAP = Register("Link Capabilities", 0x0C, 4, (
    F("speed", (3, 0), RO, "max link speed: index into LNKCAP2 supported speeds"),
    F("width", (9, 4), RO), F("aspm", (11, 10), RO), F("l0s_exit", (14, 12), RO),
    F("l1_exit", (17, 15), RO), F("clock_pm", 18, RO), F("surprise_down", 19, RO),
    F("dll_active", 20, RO), F("bw_notify", 21, RO), F("aspm_opt_comp", 22, RO),
    F("reserved", 23, RSVD), F("port", (31, 24), RO),
))
LNKCTL = Register("Link Control", 0x10, 2, (
    F("aspm", (1, 0), RW), F("reserved", 2, RSVD), F("rcb", 3, RW), F("disable", 4, RW),
    F("retrain", 5, RW), F("common_clock", 6, RW), F("ext_synch", 7, RW), F("clock_pm", 8, RW),
    F("hw_autonomous_width_disable", 9, RW), F("bw_mgmt_int", 10, RW),
    F("autonomous_bw_int", 11, RW), F("reserved2", (15, 12), RSVD),
))
LNKSTA = Register("Link Status", 0x12, 2, (
    F("speed", (3, 0), RO), F("width", (9, 4), RO), F("training_error", 10, RO),
    F("training", 11, RO), F("slot_clock", 12, RO), F("dll_active", 13, RO),
    F("bw_mgmt", 14, RW1C), F("autonomous_bw", 15, RW1C),
))
SLTCAP = Register("Slot Capabilities", 0x14, 4, (
    F("attn_button", 0, RO), F("power_controller", 1, RO), F("mrl_sensor", 2, RO),
    F("attn_indicator", 3, RO), F("power_indicator", 4, RO), F("hotplug_surprise", 5, RO),
    F("hotplug_capable", 6, RO), F("power_limit_value", (14, 7), RO),
    F("power_limit_scale", (16, 15), RO), F("interlock", 17, RO), F("no_cmd_completed", 18, RO),
    F("slot_number", (31, 19), RO),
))
SLTCTL = Register("Slot Control", 0x18, 2, (
    F("attn_button", 0, RW), F("power_fault", 1, RW), F("mrl_changed", 2, RW),
    F("presence_changed", 3, RW), F("cmd_completed", 4, RW), F("hotplug_int", 5, RW),
    F("attn_indicator", (7, 6), RW), F("power_indicator", (9, 8), RW),
    F("power_controller", 10, RW), F("interlock", 11, RW), F("dll_changed", 12, RW),
    F("reserved", (15, 13), RSVD),
))
SLTSTA = Register("Slot Status", 0x1A, 2, (
    F("attn_button", 0, RW1C), F("power_fault", 1, RW1C), F("mrl_changed", 2, RW1C),
    F("presence_changed", 3, RW1C), F("cmd_completed", 4, RW1C), F("mrl_state", 5, RO),
    F("presence", 6, RO), F("interlock", 7, RO), F("dll_changed", 8, RW1C),
    F("reserved", (15, 9), RSVD),
))
RTCTL = Register("Root Control", 0x1C, 2, (
    F("serr_corr", 0, RW), F("serr_nonfatal", 1, RW), F("serr_fatal", 2, RW),
    F("pme_int", 3, RW), F("crs_visible", 4, RW), F("reserved", (15, 5), RSVD),
))
RTCAP = Register("Root Capabilities", 0x1E, 2, (
    F("crs_visible", 0, RO), F("reserved", (15, 1), RSVD),
))
RTSTA = Register("Root Status", 0x20, 4, (
    F("pme_requester", (15, 0), RO), F("pme_status", 16, RW1C), F("pme_pending", 17, RO),
    F("reserved", (31, 18), RSVD),
))
DEVCAP2 = Register("Device Capabilities 2", 0x24, 4, (
    F("timeout_ranges", (3, 0), RO), F("timeout_disable", 4, RO), F("ari_forwarding", 5, RO),
    F("atomic_routing", 6, RO), F("atomic32", 7, RO), F("atomic64", 8, RO), F("cas128", 9, RO),
    F("no_ro_pr_pr", 10, RO), F("ltr", 11, RO), F("tph_completer", (13, 12), RO),
    F("ln_cls", (15, 14), RO), F("tag10_completer", 16, RO), F("tag10_requester", 17, RO),
    F("obff", (19, 18), RO), F("ext_fmt", 20, RO), F("e2e_prefix", 21, RO),
    F("max_e2e_prefixes", (23, 22), RO), F("emergency_power_reduction", (25, 24), RO),
    F("emergency_power_reduction_init", 26, RO), F("reserved", (30, 27), RSVD),
    F("frs", 31, RO),
))
DEVCTL2 = Register("Device Control 2", 0x28, 2, (
    F("timeout_value", (3, 0), RW), F("timeout_disable", 4, RW), F("ari_forwarding", 5, RW),
    F("atomic_requester", 6, RW), F("atomic_egress_block", 7, RW), F("ido_request", 8, RW),
    F("ido_completion", 9, RW), F("ltr", 10, RW), F("emergency_power_reduction", 11, RW),
    F("tag10_requester", 12, RW), F("obff", (14, 13), RW), F("e2e_prefix_block", 15, RW),
))
LNKCAP2 = Register("Link Capabilities 2", 0x2C, 4, (
    F("reserved", 0, RSVD), F("speeds", (7, 1), RO, "supported link speeds vector"),
    F("crosslink", 8, RO), F("reserved2", (22, 9), RSVD), F("retimer", 23, RO),
    F("two_retimers", 24, RO), F("reserved3", (30, 25), RSVD), F("drs", 31, RO),
))
LNKCTL2 = Register("Link Control 2", 0x30, 2, (
    F("target_speed", (3, 0), RW), F("enter_compliance", 4, RW),
    F("hw_autonomous_speed_disable", 5, RW), F("selectable_deemphasis", 6, RO),
    F("transmit_margin", (9, 7), RW), F("enter_modified_compliance", 10, RW),
    F("compliance_sos", 11, RW), F("compliance_preset", (15, 12), RW),
))
LNKSTA2 = Register("Link Status 2", 0x32, 2, (
    F("deemphasis", 0, RO), F("eq_complete", 1, RO), F("eq_phase1", 2, RO),
    F("eq_phase2", 3, RO), F("eq_phase3", 4, RO), F("eq_request", 5, RW1C),
    F("retimer", 6, RO), F("two_retimers", 7, RO), F("crosslink", (9, 8), RO),
    F("reserved", (11, 10), RSVD), F("downstream_component", (14, 12), RO),
    F("drs_received", 15, RW1C),
))
