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

EXP_SIZE = 0x3C                            # a v2 capability: through Link Status 2

# Link speeds and widths (PCIe Base 6.0). LnkCap's Max Link Speed and LnkSta's Current Link
# Speed hold n, meaning bit n-1 of LnkCap2's Supported Link Speeds vector (7.5.3.6, 7.5.3.8,
# 7.5.3.18); irqsim's functions support every speed up to their maximum, so n is the
# generation. Widths are LnkCap's Maximum Link Width encodings (7.5.3.6).
LINK_GENERATIONS = (1, 2, 3, 4, 5, 6)
LINK_MT_S = {1: 2_500, 2: 5_000, 3: 8_000, 4: 16_000, 5: 32_000, 6: 64_000}   # per lane, 4.2
# Payload bits per line bits: 8b/10b at 2.5 and 5.0 GT/s (4.2.1), 128b/130b at 8.0-32.0 GT/s
# (4.2.2), Flit Mode at 64.0 GT/s (PAM4, 1b/1b; 4.2.3.4: a 256-byte flit carries 236 bytes of
# TLPs, 6 of DLP, 8 of CRC and 6 of FEC).
LINK_ENCODING = {1: (8, 10), 2: (8, 10), 3: (128, 130), 4: (128, 130), 5: (128, 130),
                 6: (236, 256)}
LINK_FLIT_MODE = frozenset({6})            # no per-TLP STP/LCRC framing: the flit carries it
LINK_WIDTHS = (1, 2, 4, 8, 12, 16, 32)


# -- Extended capabilities (PCIe Base 6.0, 7.8 and 7.9); offsets from the capability header ----
ECAP_AER, ECAP_VC, ECAP_DSN, ECAP_PWR, ECAP_ACS, ECAP_ARI, ECAP_ATS, ECAP_SRIOV = (
    0x01, 0x02, 0x03, 0x04, 0x0D, 0x0E, 0x0F, 0x10)
ECAP_VC9, ECAP_LTR, ECAP_SEC, ECAP_PRI, ECAP_PASID, ECAP_TPH, ECAP_L1SS = (
    0x09, 0x18, 0x19, 0x13, 0x1B, 0x17, 0x1E)

_UNCOR = (
    F("undefined", 0, RSVD), F("reserved", (3, 1), RSVD), F("dlp", 4, RW1C),
    F("surprise_down", 5, RW1C), F("reserved2", (11, 6), RSVD), F("poisoned_tlp", 12, RW1C),
    F("fcp", 13, RW1C), F("completion_timeout", 14, RW1C), F("completer_abort", 15, RW1C),
    F("unexpected_completion", 16, RW1C), F("receiver_overflow", 17, RW1C),
    F("malformed_tlp", 18, RW1C), F("ecrc", 19, RW1C), F("unsupported_request", 20, RW1C),
    F("acs_violation", 21, RW1C), F("reserved3", (31, 22), RSVD),
)
AER_UNCOR_STATUS = Register("Uncorrectable Error Status", 0x04, 4, _UNCOR)
AER_UNCOR_MASK = Register("Uncorrectable Error Mask", 0x08, 4, tuple(
    F(f.name, (f.lsb + f.width - 1, f.lsb), RW if f.access is RW1C else f.access)
    for f in _UNCOR))
AER_UNCOR_SEVERITY = Register("Uncorrectable Error Severity", 0x0C, 4, tuple(
    F(f.name, (f.lsb + f.width - 1, f.lsb), RW if f.access is RW1C else f.access)
    for f in _UNCOR))
_COR = (
    F("receiver_error", 0, RW1C), F("reserved", (5, 1), RSVD), F("bad_tlp", 6, RW1C),
    F("bad_dllp", 7, RW1C), F("replay_rollover", 8, RW1C), F("reserved2", (11, 9), RSVD),
    F("replay_timeout", 12, RW1C), F("advisory_nonfatal", 13, RW1C),
    F("reserved3", (31, 14), RSVD),
)
AER_COR_STATUS = Register("Correctable Error Status", 0x10, 4, _COR)
AER_COR_MASK = Register("Correctable Error Mask", 0x14, 4, tuple(
    F(f.name, (f.lsb + f.width - 1, f.lsb), RW if f.access is RW1C else f.access)
    for f in _COR))
AER_CAP = Register("Advanced Error Capabilities and Control", 0x18, 4, (
    F("first_error_pointer", (4, 0), RO), F("ecrc_gen_capable", 5, RO),
    F("ecrc_gen_enable", 6, RW), F("ecrc_check_capable", 7, RO), F("ecrc_check_enable", 8, RW),
    F("multi_header_capable", 9, RO), F("multi_header_enable", 10, RW),
    F("tlp_prefix_log", 11, RO), F("timeout_header_log", 12, RO),
    F("reserved", (31, 13), RSVD),
))
AER_HEADER_LOG = 0x1C                      # 16 bytes
AER_ROOT_COMMAND = Register("Root Error Command", 0x2C, 4, (
    F("correctable", 0, RW), F("nonfatal", 1, RW), F("fatal", 2, RW),
    F("reserved", (31, 3), RSVD),
))
AER_ROOT_STATUS = Register("Root Error Status", 0x30, 4, (
    F("cor_received", 0, RW1C), F("multi_cor_received", 1, RW1C),
    F("uncor_received", 2, RW1C), F("multi_uncor_received", 3, RW1C),
    F("first_fatal", 4, RW1C), F("nonfatal_received", 5, RW1C), F("fatal_received", 6, RW1C),
    F("reserved", (26, 7), RSVD), F("interrupt_message", (31, 27), RO),
))
AER_ERROR_SOURCE = 0x34                    # ERR_COR source id, then ERR_FATAL/NONFATAL's

ACS_CAP = Register("ACS Capability", 0x04, 2, (
    F("source_validation", 0, RO), F("translation_blocking", 1, RO),
    F("p2p_request_redirect", 2, RO), F("p2p_completion_redirect", 3, RO),
    F("upstream_forwarding", 4, RO), F("p2p_egress_control", 5, RO),
    F("direct_translated_p2p", 6, RO), F("reserved", 7, RSVD),
    F("egress_vector_size", (15, 8), RO),
))
ACS_CTRL = Register("ACS Control", 0x06, 2, (
    F("source_validation", 0, RW), F("translation_blocking", 1, RW),
    F("p2p_request_redirect", 2, RW), F("p2p_completion_redirect", 3, RW),
    F("upstream_forwarding", 4, RW), F("p2p_egress_control", 5, RW),
    F("direct_translated_p2p", 6, RW), F("reserved", (15, 7), RSVD),
))
ARI_CAP = Register("ARI Capability", 0x04, 2, (
    F("mfvc", 0, RO), F("acs", 1, RO), F("reserved", (7, 2), RSVD),
    F("next_function", (15, 8), RO),
))
ARI_CTRL = Register("ARI Control", 0x06, 2, (
    F("mfvc", 0, RW), F("acs", 1, RW), F("reserved", (3, 2), RSVD),
    F("function_group", (6, 4), RW), F("reserved2", (15, 7), RSVD),
))
ATS_CAP = Register("ATS Capability", 0x04, 2, (
    F("invalidate_queue_depth", (4, 0), RO), F("page_aligned", 5, RO),
    F("global_invalidate", 6, RO), F("relaxed_ordering", 7, RO), F("reserved", (15, 8), RSVD),
))
ATS_CTRL = Register("ATS Control", 0x06, 2, (
    F("smallest_translation_unit", (4, 0), RW), F("reserved", (14, 5), RSVD),
    F("enable", 15, RW),
))
PRI_CTRL = Register("Page Request Control", 0x04, 2, (
    F("enable", 0, RW), F("reset", 1, RW), F("reserved", (15, 2), RSVD),
))
PRI_STATUS = Register("Page Request Status", 0x06, 2, (
    F("response_failure", 0, RW1C), F("unexpected_index", 1, RW1C),
    F("reserved", (7, 2), RSVD), F("stopped", 8, RO), F("reserved2", (14, 9), RSVD),
    F("pasid_required", 15, RO),
))
PRI_CAPACITY, PRI_ALLOCATION = 0x08, 0x0C
PASID_CAP = Register("PASID Capability", 0x04, 2, (
    F("reserved", 0, RSVD), F("execute", 1, RO), F("privileged", 2, RO),
    F("reserved2", (7, 3), RSVD), F("max_width", (12, 8), RO), F("reserved3", (15, 13), RSVD),
))
PASID_CTRL = Register("PASID Control", 0x06, 2, (
    F("enable", 0, RW), F("execute", 1, RW), F("privileged", 2, RW),
    F("reserved", (15, 3), RSVD),
))
LTR_MAX_SNOOP = Register("Max Snoop Latency", 0x04, 2, (
    F("value", (9, 0), RW), F("scale", (12, 10), RW, "value x 2^(5 x scale) ns"),
    F("reserved", (15, 13), RSVD),
))
LTR_MAX_NO_SNOOP = Register("Max No-Snoop Latency", 0x06, 2, LTR_MAX_SNOOP.fields)
SEC_LNKCTL3 = Register("Link Control 3", 0x04, 4, (
    F("perform_equalization", 0, RW), F("equalization_request_int", 1, RW),
    F("reserved", (8, 2), RSVD), F("lower_skp_os_vector", (15, 9), RW),
    F("reserved2", (31, 16), RSVD),
))
SEC_LANE_ERROR = 0x08
TPH_CAP = Register("TPH Requester Capability", 0x04, 4, (
    F("no_st_mode", 0, RO), F("interrupt_vector_mode", 1, RO), F("device_specific_mode", 2, RO),
    F("reserved", (7, 3), RSVD), F("extended_requester", 8, RO),
    F("st_table_location", (10, 9), RO), F("reserved2", (15, 11), RSVD),
    F("st_table_size", (26, 16), RO), F("reserved3", (31, 27), RSVD),
))

# SR-IOV (PCIe Base 6.0, 9.3.3)
SRIOV_CAP = Register("SR-IOV Capabilities", 0x04, 4, (
    F("vf_migration", 0, RO), F("ari_preserved", 1, RO), F("vf_10bit_tag_requester", 2, RO),
    F("reserved", (20, 3), RSVD), F("migration_interrupt", (31, 21), RO),
))
SRIOV_CTRL = Register("SR-IOV Control", 0x08, 2, (
    F("vf_enable", 0, RW), F("vf_migration_enable", 1, RW),
    F("vf_migration_interrupt", 2, RW), F("vf_mse", 3, RW), F("ari_hierarchy", 4, RW),
    F("vf_10bit_tag_requester", 5, RW), F("reserved", (15, 6), RSVD),
))
SRIOV_STATUS = Register("SR-IOV Status", 0x0A, 2, (
    F("vf_migration", 0, RW1C), F("reserved", (15, 1), RSVD),
))
SRIOV_INITIAL_VFS = Register("InitialVFs", 0x0C, 2, (F("value", (15, 0), RO),))
SRIOV_TOTAL_VFS = Register("TotalVFs", 0x0E, 2, (F("value", (15, 0), RO),))
SRIOV_NUM_VFS = Register("NumVFs", 0x10, 2, (F("value", (15, 0), RW),))
SRIOV_FDL = Register("Function Dependency Link", 0x12, 1, (F("value", (7, 0), RO),))
SRIOV_VF_OFFSET = Register("First VF Offset", 0x14, 2, (F("value", (15, 0), RO),))
SRIOV_VF_STRIDE = Register("VF Stride", 0x16, 2, (F("value", (15, 0), RO),))
SRIOV_VF_DEVICE = Register("VF Device ID", 0x1A, 2, (F("value", (15, 0), RO),))
SRIOV_SUPPORTED_PAGE_SIZES = Register("Supported Page Sizes", 0x1C, 4,
                                      (F("value", (31, 0), RO),))
SRIOV_SYSTEM_PAGE_SIZE = Register("System Page Size", 0x20, 4, (F("value", (31, 0), RW),))
SRIOV_VF_BAR0 = 0x24                       # six VF BARs, BAR layout as in the type 0 header
SRIOV_VF_BARS = 6
SRIOV_MIGRATION_STATE = Register("VF Migration State Array Offset", 0x3C, 4, (
    F("bir", (2, 0), RO), F("offset", (31, 3), RO),
))
SRIOV_SIZE = 0x40

# Virtual Channel (PCIe 7.9.1)
VC_PORT_CAP1 = Register("Port VC Capability 1", 0x04, 4, (
    F("extended_vc_count", (2, 0), RO), F("reserved", 3, RSVD),
    F("low_priority_evc_count", (6, 4), RO), F("reserved2", 7, RSVD),
    F("reference_clock", (9, 8), RO), F("port_arb_table_entry_size", (11, 10), RO),
    F("reserved3", (31, 12), RSVD),
))
VC_PORT_CAP2 = Register("Port VC Capability 2", 0x08, 4, (
    F("arb_capability", (7, 0), RO), F("reserved", (23, 8), RSVD),
    F("arb_table_offset", (31, 24), RO, "in 16-byte units"),
))
VC_PORT_CTRL = Register("Port VC Control", 0x0C, 2, (
    F("load_arb_table", 0, RW), F("arb_select", (3, 1), RW), F("reserved", (15, 4), RSVD),
))
VC_PORT_STATUS = Register("Port VC Status", 0x0E, 2, (
    F("arb_table_status", 0, RO), F("reserved", (15, 1), RSVD),
))
VC_RESOURCE0 = 0x10                        # VC resources: 12 bytes each
VC_RESOURCE_SIZE = 12
VC_RES_CAP = Register("VC Resource Capability", 0x00, 4, (
    F("port_arb_capability", (7, 0), RO), F("reserved", (13, 8), RSVD),
    F("undefined", 14, RSVD), F("reject_snoop", 15, RO), F("max_time_slots", (22, 16), RO),
    F("reserved2", 23, RSVD), F("port_arb_table_offset", (31, 24), RO),
))
VC_RES_CTRL = Register("VC Resource Control", 0x04, 4, (
    F("tc_vc_map", (7, 0), RW), F("reserved", (15, 8), RSVD), F("load_port_arb_table", 16, RW),
    F("port_arb_select", (19, 17), RW), F("reserved2", (23, 20), RSVD),
    F("vc_id", (26, 24), RW), F("reserved3", (30, 27), RSVD), F("enable", 31, RW),
))
VC_RES_STATUS = Register("VC Resource Status", 0x0A, 2, (
    F("port_arb_table_status", 0, RO), F("negotiation_pending", 1, RO),
    F("reserved", (15, 2), RSVD),
))

# L1 PM Substates (PCIe 7.8.3)
L1SS_CAP = Register("L1 PM Substates Capabilities", 0x04, 4, (
    F("pci_pm_l12", 0, RO), F("pci_pm_l11", 1, RO), F("aspm_l12", 2, RO), F("aspm_l11", 3, RO),
    F("l1ss", 4, RO), F("reserved", (7, 5), RSVD),
    F("common_mode_restore_time", (15, 8), RO), F("power_on_scale", (17, 16), RO),
    F("reserved2", 18, RSVD), F("power_on_value", (23, 19), RO),
    F("reserved3", (31, 24), RSVD),
))
L1SS_CTL1 = Register("L1 PM Substates Control 1", 0x08, 4, (
    F("pci_pm_l12", 0, RW), F("pci_pm_l11", 1, RW), F("aspm_l12", 2, RW), F("aspm_l11", 3, RW),
    F("reserved", (7, 4), RSVD), F("common_mode_restore_time", (15, 8), RW),
    F("ltr_l12_threshold_value", (25, 16), RW), F("reserved2", (28, 26), RSVD),
    F("ltr_l12_threshold_scale", (31, 29), RW),
))
L1SS_CTL2 = Register("L1 PM Substates Control 2", 0x0C, 4, (
    F("power_on_scale", (1, 0), RW), F("reserved", 2, RSVD), F("power_on_value", (7, 3), RW),
    F("reserved2", (31, 8), RSVD),
))

# -- Older standard capabilities ------------------------------------------------------------------
# AGP 3.0 (6.1): status and command registers of the AGP capability (ID 02h).
AGP_STATUS = Register("AGP Status", 0x04, 4, (
    F("rate", (2, 0), RO), F("agp3", 3, RO), F("fw", 4, RO), F("addr64", 5, RO),
    F("htrans", 6, RO), F("gart64", 7, RO), F("ita_coherent", 8, RO), F("sba", 9, RO),
    F("cal", (12, 10), RO), F("arqsz", (15, 13), RO), F("isoch", 16, RO),
    F("reserved", (23, 17), RSVD), F("rq", (31, 24), RO, "maximum requests - 1"),
))
AGP_COMMAND = Register("AGP Command", 0x08, 4, (
    F("rate", (2, 0), RW), F("reserved", 3, RSVD), F("fw", 4, RW), F("addr64", 5, RW),
    F("reserved2", 6, RSVD), F("gart64", 7, RW), F("agp", 8, RW), F("sba", 9, RW),
    F("cal", (12, 10), RW), F("arqsz", (15, 13), RW), F("reserved3", (23, 16), RSVD),
    F("rq", (31, 24), RW),
))
AGP_SIZE = 12
# PCI-X 2.0 (7.2): the non-bridge PCI-X capability (ID 07h).
PCIX_COMMAND = Register("PCI-X Command", 0x02, 2, (
    F("dpere", 0, RW), F("ero", 1, RW), F("mmrbc", (3, 2), RW), F("most", (6, 4), RW),
    F("reserved", (15, 7), RSVD),
))
PCIX_STATUS = Register("PCI-X Status", 0x04, 4, (
    F("function", (2, 0), RO), F("device", (7, 3), RO), F("bus", (15, 8), RO),
    F("addr64", 16, RO), F("mhz133", 17, RO), F("sc_discarded", 18, RW1C),
    F("unexpected_sc", 19, RW1C), F("bridge", 20, RO), F("dmmrbc", (22, 21), RO),
    F("dmost", (25, 23), RO), F("dmcrs", (28, 26), RO), F("rscem", 29, RW1C),
    F("mhz266", 30, RO), F("mhz533", 31, RO),
))
# PCI Advanced Features (ECN, ID 13h)
AF_CAP = Register("AF Capabilities", 0x03, 1, (
    F("tp", 0, RO, "transactions pending"), F("flr", 1, RO), F("reserved", (7, 2), RSVD),
))
AF_CTRL = Register("AF Control", 0x04, 1, (F("flr", 0, RW), F("reserved", (7, 1), RSVD)))
AF_STATUS = Register("AF Status", 0x05, 1, (F("tp", 0, RO), F("reserved", (7, 1), RSVD)))
# Enhanced Allocation (PCI ECN / PCIe 6.0 7.8.5): entry header, then base and max offset.
EA_ENTRY = Register("EA Entry Header", 0x00, 4, (
    F("entry_size", (2, 0), RO, "DWORDs after the header"), F("reserved", 3, RSVD),
    F("bei", (7, 4), RO, "BAR equivalent indicator"),
    F("primary_properties", (15, 8), RO), F("secondary_properties", (23, 16), RO),
    F("reserved2", (29, 24), RSVD), F("writable", 30, RO), F("enable", 31, RW),
))
# Root Complex Link Declaration (PCIe 7.9.8)
RCLINK_ESD = Register("Element Self Description", 0x04, 4, (
    F("element_type", (3, 0), RO), F("reserved", (7, 4), RSVD), F("links", (15, 8), RO),
    F("component_id", (23, 16), RO), F("port_number", (31, 24), RO),
))
RCLINK_ENTRY0 = 0x10
RCLINK_ENTRY_SIZE = 16
RCLINK_DESC = Register("Link Description", 0x00, 4, (
    F("valid", 0, RO), F("type", 1, RO, "1: configuration space, 0: memory-mapped"),
    F("assoc_rcrb", 2, RO), F("reserved", (15, 3), RSVD), F("target_component", (23, 16), RO),
    F("target_port", (31, 24), RO),
))
ECAP_RCLINK = 0x05

# HyperTransport I/O Link 3.10 (7.5): the Slave/Primary Interface capability block.
HT_PRI_CMD = Register("HT Command (slave/primary)", 0x02, 2, (
    F("base_unit_id", (4, 0), RW), F("unit_count", (9, 5), RO), F("master_host", 10, RO),
    F("default_direction", 11, RW), F("drop_uninit_link", 12, RW),
    F("capability_type", (15, 13), RO),
))
_HT_LCTR = (
    F("reserved", 0, RSVD), F("crc_flood", 1, RW), F("crc_start_test", 2, RW),
    F("crc_force_error", 3, RW), F("link_failure", 4, RW1C), F("init_complete", 5, RO),
    F("end_of_chain", 6, RO), F("transmitter_off", 7, RW), F("crc_error", (11, 8), RW1C),
    F("isoc_enable", 12, RW), F("ldtstop_tristate", 13, RW), F("extended_ctl", 14, RW),
    F("addr64", 15, RW),
)
_HT_LCNF = (
    F("max_width_in", (2, 0), RO), F("dw_fc_in", 3, RO), F("max_width_out", (6, 4), RO),
    F("dw_fc_out", 7, RO), F("width_in", (10, 8), RW), F("dw_fc_in_enable", 11, RW),
    F("width_out", (14, 12), RW), F("dw_fc_out_enable", 15, RW),
)
HT_PRI_LCTR0 = Register("HT Link Control 0", 0x04, 2, _HT_LCTR)
HT_PRI_LCNF0 = Register("HT Link Config 0", 0x06, 2, _HT_LCNF)
HT_PRI_LCTR1 = Register("HT Link Control 1", 0x08, 2, _HT_LCTR)
HT_PRI_LCNF1 = Register("HT Link Config 1", 0x0A, 2, _HT_LCNF)
HT_PRI_RID = Register("HT Revision ID", 0x0C, 1, (F("minor", (4, 0), RO), F("major", (7, 5), RO)))
_HT_LFRER = (
    F("frequency", (3, 0), RW), F("protocol_error", 4, RW1C), F("overflow_error", 5, RW1C),
    F("end_of_chain_error", 6, RW1C), F("ctl_timeout", 7, RW1C),
)
HT_PRI_LFRER0 = Register("HT Link Frequency/Error 0", 0x0D, 1, _HT_LFRER)
HT_PRI_LFRER1 = Register("HT Link Frequency/Error 1", 0x11, 1, _HT_LFRER)
_HT_FREQS = ("f200", "f300", "f400", "f500", "f600", "f800", "f1000", "f1200", "f1400", "f1600")
_HT_LFCAP = (*(F(n, i, RO) for i, n in enumerate(_HT_FREQS)), F("reserved", (14, 10), RSVD),
             F("vendor", 15, RO))
HT_PRI_LFCAP0 = Register("HT Link Frequency Capability 0", 0x0E, 2, _HT_LFCAP)
HT_PRI_LFCAP1 = Register("HT Link Frequency Capability 1", 0x12, 2, _HT_LFCAP)
HT_PRI_FTR = Register("HT Feature", 0x10, 1, (
    F("isoc_fc", 0, RO), F("ldtstop", 1, RO), F("crc_test_mode", 2, RO),
    F("extended_ctl_required", 3, RO), F("addr64", 4, RO), F("unit_id_reorder_disable", 5, RW),
    F("reserved", (7, 6), RSVD),
))
HT_PRI_EH = Register("HT Error Handling", 0x16, 2, tuple(F(n, i, RW) for i, n in enumerate(
    ("pfle", "ofle", "pfe", "ofe", "eocfe", "rfe", "crcfe", "serrfe", "cf", "re", "pnfe", "onfe",
     "eocnfe", "rnfe", "crcnfe", "serrnfe"))))
HT_PRI_MBU, HT_PRI_MLU, HT_PRI_BN, HT_PRI_SIZE = 0x18, 0x19, 0x1A, 0x1C
