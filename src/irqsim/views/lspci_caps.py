"""Sub-lines of the Power Management and PCI Express capabilities, as ``lspci -vvv`` (pciutils
3.9) prints them, decoded with the register declarations of :mod:`irqsim.spec.pcie`.

A line is a template over a register's fields: ``{name}`` prints a one-bit field as ``+``/``-``
and a wider one in decimal; ``{name:02x}`` formats it; extra values (table look-ups) are passed
by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from irqsim.spec import pcie as X
from irqsim.spec.regs import Register

if TYPE_CHECKING:
    from irqsim.views.lspci import _Dev


class _Val:
    """One field's value, formatted as lspci does: a flag as ``+``/``-``, else an integer."""

    __slots__ = ("v", "width")

    def __init__(self, v: int, width: int) -> None:
        self.v = v
        self.width = width

    def __format__(self, spec: str) -> str:
        if not spec:
            return ("+" if self.v else "-") if self.width == 1 else str(self.v)
        return format(self.v, spec)


def fmt(reg: Register, value: int, template: str, **extra: Any) -> str:
    """``template`` filled with ``reg``'s fields of ``value`` (and ``extra`` values)."""
    vals: dict[str, Any] = {f.name: _Val(f.get(value), f.width) for f in reg.fields}
    vals.update(extra)
    return template.format_map(vals)


def flag(v: int) -> str:
    return "+" if v else "-"


# -- Power Management ---------------------------------------------------------------------------
def cap_pm(d: _Dev, where: int, cap: int) -> None:
    """``Power Management version N`` and its Flags / Status / Bridge lines."""
    d.w(f"Power Management version {X.PMC.field('version').get(cap)}\n")
    aux = X.PM_AUX_CURRENT_MA[X.PMC.field("aux_current").get(cap)]
    d.w(fmt(X.PMC, cap, "\t\tFlags: PMEClk{pme_clock} DSI{dsi} D1{d1} D2{d2} "
            "AuxCurrent={aux}mA PME(D0{pme_d0},D1{pme_d1},D2{pme_d2},D3hot{pme_d3hot},"
            "D3cold{pme_d3cold})\n", aux=aux))
    if not d.fetch(where + X.PMCSR.offset, X.PM_SIZE - X.PMCSR.offset):
        return
    t = d.word(where + X.PMCSR.offset)
    d.w(fmt(X.PMCSR, t, "\t\tStatus: D{power_state} NoSoftRst{no_soft_reset} "
            "PME-Enable{pme_enable} DSel={data_select} DScale={data_scale} PME{pme_status}\n"))
    b = d.byte(where + X.PMCSR_BSE.offset)
    if b:
        d.w(f"\t\tBridge: PM{flag(X.PMCSR_BSE.field('bpcc_enable').get(b))} "
            f"B3{flag(not X.PMCSR_BSE.field('b2_b3').get(b))}\n")


# -- PCI Express --------------------------------------------------------------------------------
_TYPES = {
    X.EXP_TYPE_ENDPOINT: "Endpoint", X.EXP_TYPE_LEG_END: "Legacy Endpoint",
    X.EXP_TYPE_ROOT_PORT: "Root Port", X.EXP_TYPE_UPSTREAM: "Upstream Port",
    X.EXP_TYPE_DOWNSTREAM: "Downstream Port",
    X.EXP_TYPE_PCI_BRIDGE: "PCI-Express to PCI/PCI-X Bridge",
    X.EXP_TYPE_PCIE_BRIDGE: "PCI/PCI-X to PCI-Express Bridge",
    X.EXP_TYPE_ROOT_INT_EP: "Root Complex Integrated Endpoint",
    X.EXP_TYPE_ROOT_EC: "Root Complex Event Collector",
}
_SLOT_TYPES = (X.EXP_TYPE_ROOT_PORT, X.EXP_TYPE_DOWNSTREAM, X.EXP_TYPE_PCIE_BRIDGE)
_L0S = ("<64ns", "<128ns", "<256ns", "<512ns", "<1us", "<2us", "<4us", "unlimited")
_L1 = ("<1us", "<2us", "<4us", "<8us", "<16us", "<32us", "<64us", "unlimited")
_SPEED = {1: "2.5GT/s", 2: "5GT/s", 3: "8GT/s", 4: "16GT/s", 5: "32GT/s", 6: "64GT/s"}
_ASPM = {0: "not supported", 1: "L0s", 2: "L1", 3: "L0s L1"}
_ASPM_CTL = ("Disabled", "L0s Enabled", "L1 Enabled", "L0s L1 Enabled")
_INDICATOR = ("Unknown", "On", "Blink", "Off")
_TIMEOUT_RANGE = {0: "Not Supported", 1: "Range A", 2: "Range B", 3: "Range AB",
                  6: "Range BC", 7: "Range ABC", 14: "Range BCD", 15: "Range ABCD"}
_TIMEOUT_VALUE = {0: "50us to 50ms", 1: "50us to 100us", 2: "1ms to 10ms", 5: "16ms to 55ms",
                  6: "65ms to 210ms", 9: "260ms to 900ms", 10: "1s to 3.5s", 13: "4s to 13s",
                  14: "17s to 64s"}
_OBFF_CAP = {1: "Via message", 2: "Via WAKE#", 3: "Via message/WAKE#"}
_OBFF_CTL = ("Disabled", "Via message A", "Via message B", "Via WAKE#")
_EPR = {1: "Dev Specific", 2: "Form Factor Dev Specific", 3: "Reserved"}
_LNCLS = {1: "64byte cachelines", 2: "128byte cachelines", 3: "Reserved"}
_TPH = {0: "TPHComp- ExtTPHComp-", 1: "TPHComp+ ExtTPHComp-", 2: "",
        3: "TPHComp+ ExtTPHComp+"}
_DEEMPH = ("-6dB", "-3.5dB")
_PRESET = ("-6dB de-emphasis, 0dB preshoot", "-3.5dB de-emphasis, 0dB preshoot",
           "-4.4dB de-emphasis, 0dB preshoot", "-2.5dB de-emphasis, 0dB preshoot",
           "0dB de-emphasis, 0dB preshoot", "0dB de-emphasis, 1.9dB preshoot",
           "0dB de-emphasis, 2.5dB preshoot", "-6.0dB de-emphasis, 3.5dB preshoot",
           "-3.5dB de-emphasis, 3.5dB preshoot", "0dB de-emphasis, 3.5dB preshoot")
_MARGIN = {0: "Normal Operating Range", 1: "800-1200mV(full-swing)/400-700mV(half-swing)",
           2: "200-400mV(full-swing)/100-200mV(half-swing)",
           3: "200-400mV(full-swing)/100-200mV(half-swing)",
           4: "200-400mV(full-swing)/100-200mV(half-swing)",
           5: "200-400mV(full-swing)/100-200mV(half-swing)"}
_CROSSLINK = ("unsupported", "Upstream Port", "Downstream Port", "incomplete")
_COMPONENT = {0: "Link Down - Not Determined", 1: "Link Down - Not Present",
              2: "Link Down - Present", 4: "Link Up - Present",
              5: "Link Up - Present and DRS Received"}


def power_limit(value: int, scale: int) -> str:
    """Slot power limit as lspci prints it (PCIe 7.5.3.3: value x 1/0.1/0.01/0.001 W)."""
    if scale == 0 and value == 0xFF:
        return ">600W"
    if scale == 0 and 0xF0 <= value <= 0xFE:
        value = 250 + 25 * (value - 0xF0)
    w = value * (1.0, 0.1, 0.01, 0.001)[scale]
    return f"{w:g}W"


def _f(reg: Register, name: str, value: int) -> int:
    return reg.field(name).get(value)


def cap_express(d: _Dev, where: int, cap: int, has_mem_bar: bool, devfn: tuple[int, int]) -> int:
    """``Express (vN) <type>, MSI nn`` and the device, link, slot, root and "2" registers."""
    typ = _f(X.EXP_FLAGS, "type", cap)
    name = _TYPES.get(typ, f"Unknown type {typ}")
    slot = typ in _SLOT_TYPES and bool(_f(X.EXP_FLAGS, "slot", cap))
    if typ in _SLOT_TYPES:
        name += f" (Slot{flag(_f(X.EXP_FLAGS, 'slot', cap))})"
    d.w(f"Express (v{cap & 0xF}) {name}, MSI {_f(X.EXP_FLAGS, 'irq', cap):02x}\n")
    link = typ not in (X.EXP_TYPE_ROOT_INT_EP, X.EXP_TYPE_ROOT_EC)
    size = 24 if slot else 16
    if typ in (X.EXP_TYPE_ROOT_PORT, X.EXP_TYPE_ROOT_EC):
        size = 32
    if not d.fetch(where + X.DEVCAP.offset, size):
        return typ
    _dev(d, where, typ)
    if link:
        _link(d, where, typ)
    if slot:
        _slot(d, where)
    if typ in (X.EXP_TYPE_ROOT_PORT, X.EXP_TYPE_ROOT_EC):
        _root(d, where)
    if cap & 0xF < 2:
        return typ
    if not d.fetch(where + X.DEVCAP2.offset, 24 if slot else 16):
        return typ
    _dev2(d, where, typ, has_mem_bar)
    if link:
        _link2(d, where, typ, devfn)
    return typ


def _dev(d: _Dev, where: int, typ: int) -> None:
    t = d.long(where + X.DEVCAP.offset)
    ep = typ in (X.EXP_TYPE_ENDPOINT, X.EXP_TYPE_LEG_END)
    s = (f"\t\tDevCap:\tMaxPayload {128 << _f(X.DEVCAP, 'max_payload', t)} bytes, "
         f"PhantFunc {(1 << _f(X.DEVCAP, 'phantom', t)) - 1}")
    if ep:
        s += (f", Latency L0s {_L0S[_f(X.DEVCAP, 'l0s_latency', t)]}, "
              f"L1 {_L1[_f(X.DEVCAP, 'l1_latency', t)]}")
    s += fmt(X.DEVCAP, t, "\n\t\t\tExtTag{ext_tag}")
    if ep or typ in (X.EXP_TYPE_UPSTREAM, X.EXP_TYPE_PCI_BRIDGE):
        s += fmt(X.DEVCAP, t, " AttnBtn{attn_button} AttnInd{attn_indicator} "
                 "PwrInd{power_indicator}")
    s += fmt(X.DEVCAP, t, " RBE{rber}")
    flr_types = (X.EXP_TYPE_ENDPOINT, X.EXP_TYPE_LEG_END, X.EXP_TYPE_ROOT_INT_EP)
    if typ in flr_types:
        s += fmt(X.DEVCAP, t, " FLReset{flr}")
    if typ in (X.EXP_TYPE_ENDPOINT, X.EXP_TYPE_UPSTREAM, X.EXP_TYPE_PCI_BRIDGE):
        s += " SlotPowerLimit " + power_limit(_f(X.DEVCAP, "power_limit_value", t),
                                              _f(X.DEVCAP, "power_limit_scale", t))
    d.w(s + "\n")
    w = d.word(where + X.DEVCTL.offset)
    s = fmt(X.DEVCTL, w, "\t\tDevCtl:\tCorrErr{corr_err} NonFatalErr{nonfatal_err} "
            "FatalErr{fatal_err} UnsupReq{unsup_req}\n"
            "\t\t\tRlxdOrd{relaxed_ordering} ExtTag{ext_tag} PhantFunc{phantom} "
            "AuxPwr{aux_power_pm} NoSnoop{no_snoop}")
    if typ == X.EXP_TYPE_PCI_BRIDGE:
        s += fmt(X.DEVCTL, w, " BrConfRtry{bcre_flr}")
    if typ in flr_types and _f(X.DEVCAP, "flr", t):
        s += fmt(X.DEVCTL, w, " FLReset{bcre_flr}")
    s += (f"\n\t\t\tMaxPayload {128 << _f(X.DEVCTL, 'max_payload', w)} bytes, "
          f"MaxReadReq {128 << _f(X.DEVCTL, 'max_read_req', w)} bytes\n")
    d.w(s)
    w = d.word(where + X.DEVSTA.offset)
    d.w(fmt(X.DEVSTA, w, "\t\tDevSta:\tCorrErr{corr_err} NonFatalErr{nonfatal_err} "
            "FatalErr{fatal_err} UnsupReq{unsup_req} AuxPwr{aux_power} "
            "TransPend{trans_pending}\n"))


def _compare(typ: int, sta: int, cap: int) -> str:
    if sta > cap:
        return " (overdriven)"
    if sta == cap or typ in (X.EXP_TYPE_ROOT_PORT, X.EXP_TYPE_DOWNSTREAM,
                             X.EXP_TYPE_PCIE_BRIDGE):
        return ""
    return " (downgraded)"


def _link(d: _Dev, where: int, typ: int) -> None:
    t = d.long(where + X.LNKCAP.offset)
    aspm = _f(X.LNKCAP, "aspm", t)
    cap_speed, cap_width = _f(X.LNKCAP, "speed", t), _f(X.LNKCAP, "width", t)
    s = (f"\t\tLnkCap:\tPort #{_f(X.LNKCAP, 'port', t)}, "
         f"Speed {_SPEED.get(cap_speed, 'unknown')}, Width x{cap_width}, "
         f"ASPM {_ASPM.get(aspm, 'unknown')}")
    if aspm:
        s += ", Exit Latency "
        if aspm & 1:
            s += f"L0s {_L0S[_f(X.LNKCAP, 'l0s_exit', t)]}"
        if aspm & 2:
            s += f"{', ' if aspm & 1 else ''}L1 {_L1[_f(X.LNKCAP, 'l1_exit', t)]}"
    d.w(s + "\n")
    d.w(fmt(X.LNKCAP, t, "\t\t\tClockPM{clock_pm} Surprise{surprise_down} "
            "LLActRep{dll_active} BwNot{bw_notify} ASPMOptComp{aspm_opt_comp}\n"))
    w = d.word(where + X.LNKCTL.offset)
    s = f"\t\tLnkCtl:\tASPM {_ASPM_CTL[_f(X.LNKCTL, 'aspm', w)]};"
    if typ in (X.EXP_TYPE_ROOT_PORT, X.EXP_TYPE_ENDPOINT, X.EXP_TYPE_LEG_END,
               X.EXP_TYPE_PCI_BRIDGE):
        s += f" RCB {128 if _f(X.LNKCTL, 'rcb', w) else 64} bytes,"
    s += fmt(X.LNKCTL, w, " Disabled{disable} CommClk{common_clock}\n"
             "\t\t\tExtSynch{ext_synch} ClockPM{clock_pm} "
             "AutWidDis{hw_autonomous_width_disable} BWInt{bw_mgmt_int} "
             "AutBWInt{autonomous_bw_int}\n")
    d.w(s)
    w = d.word(where + X.LNKSTA.offset)
    sp, wd = _f(X.LNKSTA, "speed", w), _f(X.LNKSTA, "width", w)
    d.w(f"\t\tLnkSta:\tSpeed {_SPEED.get(sp, 'unknown')}{_compare(typ, sp, cap_speed)}, "
        f"Width x{wd}{_compare(typ, wd, cap_width)}\n")
    d.w(fmt(X.LNKSTA, w, "\t\t\tTrErr{training_error} Train{training} SlotClk{slot_clock} "
            "DLActive{dll_active} BWMgmt{bw_mgmt} ABWMgmt{autonomous_bw}\n"))


def _slot(d: _Dev, where: int) -> None:
    t = d.long(where + X.SLTCAP.offset)
    d.w(fmt(X.SLTCAP, t, "\t\tSltCap:\tAttnBtn{attn_button} PwrCtrl{power_controller} "
            "MRL{mrl_sensor} AttnInd{attn_indicator} PwrInd{power_indicator} "
            "HotPlug{hotplug_capable} Surprise{hotplug_surprise}\n"
            "\t\t\tSlot #{slot_number}, PowerLimit {pl}; Interlock{interlock} "
            "NoCompl{no_cmd_completed}\n",
            pl=power_limit(_f(X.SLTCAP, "power_limit_value", t),
                           _f(X.SLTCAP, "power_limit_scale", t))))
    w = d.word(where + X.SLTCTL.offset)
    d.w(fmt(X.SLTCTL, w, "\t\tSltCtl:\tEnable: AttnBtn{attn_button} PwrFlt{power_fault} "
            "MRL{mrl_changed} PresDet{presence_changed} CmdCplt{cmd_completed} "
            "HPIrq{hotplug_int} LinkChg{dll_changed}\n"
            "\t\t\tControl: AttnInd {ai}, PwrInd {pi}, Power{power_controller} "
            "Interlock{interlock}\n",
            ai=_INDICATOR[_f(X.SLTCTL, "attn_indicator", w)],
            pi=_INDICATOR[_f(X.SLTCTL, "power_indicator", w)]))
    w = d.word(where + X.SLTSTA.offset)
    d.w(fmt(X.SLTSTA, w, "\t\tSltSta:\tStatus: AttnBtn{attn_button} PowerFlt{power_fault} "
            "MRL{mrl_state} CmdCplt{cmd_completed} PresDet{presence} Interlock{interlock}\n"
            "\t\t\tChanged: MRL{mrl_changed} PresDet{presence_changed} "
            "LinkState{dll_changed}\n"))


def _root(d: _Dev, where: int) -> None:
    d.w(fmt(X.RTCAP, d.word(where + X.RTCAP.offset), "\t\tRootCap: CRSVisible{crs_visible}\n"))
    d.w(fmt(X.RTCTL, d.word(where + X.RTCTL.offset),
            "\t\tRootCtl: ErrCorrectable{serr_corr} ErrNon-Fatal{serr_nonfatal} "
            "ErrFatal{serr_fatal} PMEIntEna{pme_int} CRSVisible{crs_visible}\n"))
    d.w(fmt(X.RTSTA, d.long(where + X.RTSTA.offset),
            "\t\tRootSta: PME ReqID {pme_requester:04x}, PMEStatus{pme_status} "
            "PMEPending{pme_pending}\n"))


def _dev2(d: _Dev, where: int, typ: int, has_mem_bar: bool) -> None:
    t = d.long(where + X.DEVCAP2.offset)
    rp, us, ds = X.EXP_TYPE_ROOT_PORT, X.EXP_TYPE_UPSTREAM, X.EXP_TYPE_DOWNSTREAM
    s = fmt(X.DEVCAP2, t, "\t\tDevCap2: Completion Timeout: {rng}, TimeoutDis{timeout_disable}"
            " NROPrPrP{no_ro_pr_pr} LTR{ltr}\n"
            "\t\t\t 10BitTagComp{tag10_completer} 10BitTagReq{tag10_requester} OBFF {obff_s}, "
            "ExtFmt{ext_fmt} EETLPPrefix{e2e_prefix}",
            rng=_TIMEOUT_RANGE.get(_f(X.DEVCAP2, "timeout_ranges", t), "Unknown"),
            obff_s=_OBFF_CAP.get(_f(X.DEVCAP2, "obff", t), "Not Supported"))
    if _f(X.DEVCAP2, "e2e_prefix", t):
        s += f", MaxEETLPPrefixes {_f(X.DEVCAP2, 'max_e2e_prefixes', t) or 4}"
    s += fmt(X.DEVCAP2, t, "\n\t\t\t EmergencyPowerReduction {epr}, "
             "EmergencyPowerReductionInit{emergency_power_reduction_init}\n\t\t\t FRS{frs}",
             epr=_EPR.get(_f(X.DEVCAP2, "emergency_power_reduction", t), "Not Supported"))
    if typ == rp:
        s += f" LN System CLS {_LNCLS.get(_f(X.DEVCAP2, 'ln_cls', t), 'Not Supported')},"
    if typ in (rp, X.EXP_TYPE_ENDPOINT):
        s += " " + _TPH[_f(X.DEVCAP2, "tph_completer", t)]
    if typ in (rp, ds):
        s += fmt(X.DEVCAP2, t, " ARIFwd{ari_forwarding}")
    s += "\n"
    if typ in (rp, us, ds) or has_mem_bar:
        s += "\t\t\t AtomicOpsCap:"
        if typ in (rp, us, ds):
            s += fmt(X.DEVCAP2, t, " Routing{atomic_routing}")
        if typ == rp or has_mem_bar:
            s += fmt(X.DEVCAP2, t, " 32bit{atomic32} 64bit{atomic64} 128bitCAS{cas128}")
        s += "\n"
    d.w(s)
    w = d.word(where + X.DEVCTL2.offset)
    s = fmt(X.DEVCTL2, w, "\t\tDevCtl2: Completion Timeout: {tv}, TimeoutDis{timeout_disable}"
            " LTR{ltr} 10BitTagReq{tag10_requester} OBFF {ob},",
            tv=_TIMEOUT_VALUE.get(_f(X.DEVCTL2, "timeout_value", w), "Unknown"),
            ob=_OBFF_CTL[_f(X.DEVCTL2, "obff", w)])
    if typ in (rp, ds):
        s += fmt(X.DEVCTL2, w, " ARIFwd{ari_forwarding}")
    s += "\n"
    ep_like = (rp, X.EXP_TYPE_ENDPOINT, X.EXP_TYPE_ROOT_INT_EP, X.EXP_TYPE_LEG_END)
    if typ in (rp, us, ds) or typ in ep_like:
        s += "\t\t\t AtomicOpsCtl:"
        if typ in ep_like:
            s += fmt(X.DEVCTL2, w, " ReqEn{atomic_requester}")
        if typ in (rp, us, ds):
            s += fmt(X.DEVCTL2, w, " EgressBlck{atomic_egress_block}")
        s += "\n"
    d.w(s)


def _speed_vector(v: int) -> str:
    if v & 0x60:
        return "RsvdP"
    for bit, text in ((0x10, "2.5-32GT/s"), (0x08, "2.5-16GT/s"), (0x04, "2.5-8GT/s"),
                      (0x02, "2.5-5GT/s"), (0x01, "2.5GT/s")):
        if v & bit:
            return text
    return "Unknown"


def _link2(d: _Dev, where: int, typ: int, devfn: tuple[int, int]) -> None:
    t = 0
    if not (typ in (X.EXP_TYPE_ENDPOINT, X.EXP_TYPE_LEG_END) and devfn != (0, 0)):
        t = d.long(where + X.LNKCAP2.offset)
        if t:
            d.w(fmt(X.LNKCAP2, t, "\t\tLnkCap2: Supported Link Speeds: {sp}, "
                    "Crosslink{crosslink} Retimer{retimer} 2Retimers{two_retimers} DRS{drs}\n",
                    sp=_speed_vector(_f(X.LNKCAP2, "speeds", t))))
        w = d.word(where + X.LNKCTL2.offset)
        ts = _f(X.LNKCTL2, "target_speed", w)
        s = fmt(X.LNKCTL2, w, "\t\tLnkCtl2: Target Link Speed: {ts}, "
                "EnterCompliance{enter_compliance} SpeedDis{hw_autonomous_speed_disable}",
                ts="2.5GT/s" if ts == 0 else _SPEED.get(ts, "Unknown"))
        if typ == X.EXP_TYPE_DOWNSTREAM:
            s += f", Selectable De-emphasis: {_DEEMPH[_f(X.LNKCTL2, 'selectable_deemphasis', w)]}"
        preset = _f(X.LNKCTL2, "compliance_preset", w)
        s += fmt(X.LNKCTL2, w, "\n\t\t\t Transmit Margin: {tm}, "
                 "EnterModifiedCompliance{enter_modified_compliance} "
                 "ComplianceSOS{compliance_sos}\n"
                 "\t\t\t Compliance Preset/De-emphasis: {pr}\n",
                 tm=_MARGIN.get(_f(X.LNKCTL2, "transmit_margin", w), "Unknown"),
                 pr=_PRESET[preset] if preset < len(_PRESET) else "Unknown")
        d.w(s)
    w = d.word(where + X.LNKSTA2.offset)
    s = fmt(X.LNKSTA2, w, "\t\tLnkSta2: Current De-emphasis Level: {de}, "
            "EqualizationComplete{eq_complete} EqualizationPhase1{eq_phase1}\n"
            "\t\t\t EqualizationPhase2{eq_phase2} EqualizationPhase3{eq_phase3} "
            "LinkEqualizationRequest{eq_request}\n"
            "\t\t\t Retimer{retimer} 2Retimers{two_retimers} CrosslinkRes: {cr}",
            de=_DEEMPH[_f(X.LNKSTA2, "deemphasis", w)],
            cr=_CROSSLINK[_f(X.LNKSTA2, "crosslink", w)])
    downstream = typ in (X.EXP_TYPE_ROOT_PORT, X.EXP_TYPE_DOWNSTREAM, X.EXP_TYPE_PCIE_BRIDGE)
    if downstream and _f(X.LNKCAP2, "drs", t):
        s += fmt(X.LNKSTA2, w, ", DRS{drs_received}\n\t\t\t DownstreamComp: {dc}\n",
                 dc=_COMPONENT.get(_f(X.LNKSTA2, "downstream_component", w), "Reserved"))
    else:
        s += "\n"
    d.w(s)


# -- extended capabilities: sub-lines after the name line ----------------------------------------
_UE = ("DLP{dlp} SDES{surprise_down} TLP{poisoned_tlp} FCP{fcp} CmpltTO{completion_timeout} "
       "CmpltAbrt{completer_abort} UnxCmplt{unexpected_completion} RxOF{receiver_overflow} "
       "MalfTLP{malformed_tlp} ECRC{ecrc} UnsupReq{unsupported_request} "
       "ACSViol{acs_violation}\n")
_CE = ("RxErr{receiver_error} BadTLP{bad_tlp} BadDLLP{bad_dllp} Rollover{replay_rollover} "
       "Timeout{replay_timeout} AdvNonFatalErr{advisory_nonfatal}\n")


def ecap_aer(d: _Dev, where: int, exp_type: int) -> None:
    """AER (PCIe 7.8.4): error status/mask/severity, capabilities, header log, root regs."""
    if not d.fetch(where + X.AER_UNCOR_STATUS.offset, 40):
        return
    for label, reg in (("UESta", X.AER_UNCOR_STATUS), ("UEMsk", X.AER_UNCOR_MASK),
                       ("UESvrt", X.AER_UNCOR_SEVERITY)):
        d.w(fmt(reg, d.long(where + reg.offset), f"\t\t{label}:\t" + _UE))
    for label, reg in (("CESta", X.AER_COR_STATUS), ("CEMsk", X.AER_COR_MASK)):
        d.w(fmt(reg, d.long(where + reg.offset), f"\t\t{label}:\t" + _CE))
    d.w(fmt(X.AER_CAP, d.long(where + X.AER_CAP.offset),
            "\t\tAERCap:\tFirst Error Pointer: {first_error_pointer:02x}, "
            "ECRCGenCap{ecrc_gen_capable} ECRCGenEn{ecrc_gen_enable} "
            "ECRCChkCap{ecrc_check_capable} ECRCChkEn{ecrc_check_enable}\n"
            "\t\t\tMultHdrRecCap{multi_header_capable} MultHdrRecEn{multi_header_enable} "
            "TLPPfxPres{tlp_prefix_log} HdrLogCap{timeout_header_log}\n"))
    log = " ".join(f"{d.long(where + X.AER_HEADER_LOG + 4 * i):08x}" for i in range(4))
    d.w(f"\t\tHeaderLog: {log}\n")
    if exp_type not in (X.EXP_TYPE_ROOT_PORT, X.EXP_TYPE_ROOT_EC):
        return
    if not d.fetch(where + X.AER_ROOT_COMMAND.offset, 12):
        return
    d.w(fmt(X.AER_ROOT_COMMAND, d.long(where + X.AER_ROOT_COMMAND.offset),
            "\t\tRootCmd: CERptEn{correctable} NFERptEn{nonfatal} FERptEn{fatal}\n"))
    d.w(fmt(X.AER_ROOT_STATUS, d.long(where + X.AER_ROOT_STATUS.offset),
            "\t\tRootSta: CERcvd{cor_received} MultCERcvd{multi_cor_received} "
            "UERcvd{uncor_received} MultUERcvd{multi_uncor_received}\n"
            "\t\t\t FirstFatal{first_fatal} NonFatalMsg{nonfatal_received} "
            "FatalMsg{fatal_received} IntMsg {interrupt_message}\n"))
    d.w(f"\t\tErrorSrc: ERR_COR: {d.word(where + X.AER_ERROR_SOURCE):04x} "
        f"ERR_FATAL/NONFATAL: {d.word(where + X.AER_ERROR_SOURCE + 2):04x}\n")


def ecap_acs(d: _Dev, where: int, exp_type: int) -> None:
    """ACS (PCIe 7.7.11): capability and control flags."""
    if not d.fetch(where + X.ACS_CAP.offset, 4):
        return
    t = ("SrcValid{source_validation} TransBlk{translation_blocking} "
         "ReqRedir{p2p_request_redirect} CmpltRedir{p2p_completion_redirect} "
         "UpstreamFwd{upstream_forwarding} EgressCtrl{p2p_egress_control} "
         "DirectTrans{direct_translated_p2p}\n")
    d.w(fmt(X.ACS_CAP, d.word(where + X.ACS_CAP.offset), "\t\tACSCap:\t" + t))
    d.w(fmt(X.ACS_CTRL, d.word(where + X.ACS_CTRL.offset), "\t\tACSCtl:\t" + t))


# Extended capabilities printed as one line per 16-bit register from a template over its
# declared fields: ARI (PCIe 7.8.7), ATS (10.5.1), PASID (7.8.8).
_REGISTER_LINES: dict[int, tuple[tuple[Register, str], ...]] = {
    X.ECAP_ARI: ((X.ARI_CAP, "\t\tARICap:\tMFVC{mfvc} ACS{acs}, Next Function: {next_function}\n"),
                 (X.ARI_CTRL,
                  "\t\tARICtl:\tMFVC{mfvc} ACS{acs}, Function Group: {function_group}\n")),
    X.ECAP_ATS: ((X.ATS_CAP, "\t\tATSCap:\tInvalidate Queue Depth: {invalidate_queue_depth:02x}\n"),
                 (X.ATS_CTRL, "\t\tATSCtl:\tEnable{enable}, Smallest Translation Unit: "
                              "{smallest_translation_unit:02x}\n")),
    X.ECAP_PASID: ((X.PASID_CAP, "\t\tPASIDCap: Exec{execute} Priv{privileged}, "
                                 "Max PASID Width: {max_width:02x}\n"),
                   (X.PASID_CTRL, "\t\tPASIDCtl: Enable{enable} Exec{execute} Priv{privileged}\n")),
}


def _ecap_lines(cid: int) -> Callable[[_Dev, int, int], None]:
    lines = _REGISTER_LINES[cid]

    def show(d: _Dev, where: int, exp_type: int) -> None:
        if not d.fetch(where + lines[0][0].offset, 4):
            return
        for reg, template in lines:
            d.w(fmt(reg, d.word(where + reg.offset), template))
    return show


def ecap_pri(d: _Dev, where: int, exp_type: int) -> None:
    """Page Request Interface (PCIe 10.5.2)."""
    if not d.fetch(where + X.PRI_CTRL.offset, 0x0C):
        return
    d.w(fmt(X.PRI_CTRL, d.word(where + X.PRI_CTRL.offset),
            "\t\tPRICtl: Enable{enable} Reset{reset}\n"))
    d.w(fmt(X.PRI_STATUS, d.word(where + X.PRI_STATUS.offset),
            "\t\tPRISta: RF{response_failure} UPRGI{unexpected_index} Stopped{stopped}\n"))
    d.w(f"\t\tPage Request Capacity: {d.long(where + X.PRI_CAPACITY):08x}, "
        f"Page Request Allocation: {d.long(where + X.PRI_ALLOCATION):08x}\n")


def ecap_ltr(d: _Dev, where: int, exp_type: int) -> None:
    """LTR (PCIe 7.8.2): the two maximum latencies in ns (value x 2^(5 x scale))."""
    if not d.fetch(where + X.LTR_MAX_SNOOP.offset, 4):
        return
    for label, reg in (("Max snoop latency", X.LTR_MAX_SNOOP),
                       ("Max no snoop latency", X.LTR_MAX_NO_SNOOP)):
        v = d.word(where + reg.offset)
        # pciutils computes 1 << (5 x scale) in 32 bits: x86 masks the shift count (scale 7
        # -> 35 -> 3), and irqsim prints what it prints.
        ns = _f(reg, "value", v) << ((5 * _f(reg, "scale", v)) & 31)
        d.w(f"\t\t{label}: {ns}ns\n")


def ecap_sec(d: _Dev, where: int, exp_type: int) -> None:
    """Secondary PCI Express (PCIe 7.7.3): Link Control 3 and lane error status."""
    if not d.fetch(where + X.SEC_LNKCTL3.offset, 12):
        return
    d.w(fmt(X.SEC_LNKCTL3, d.word(where + X.SEC_LNKCTL3.offset),
            "\t\tLnkCtl3: LnkEquIntrruptEn{equalization_request_int} "
            "PerformEqu{perform_equalization}\n"))
    errs = d.word(where + X.SEC_LANE_ERROR)
    lanes = [str(i) for i in range(16) if errs >> i & 1]
    d.w("\t\tLaneErrStat: " + ("LaneErr at lane: " + " ".join(lanes) if lanes else "0") + "\n")


def ecap_tph(d: _Dev, where: int, exp_type: int) -> None:
    """TPH Requester (PCIe 7.9.13): supported modes and steering-table location."""
    if not d.fetch(where + X.TPH_CAP.offset, 4):
        return
    t = d.long(where + X.TPH_CAP.offset)
    if _f(X.TPH_CAP, "interrupt_vector_mode", t):
        d.w("\t\tInterrupt vector mode supported\n")
    if _f(X.TPH_CAP, "device_specific_mode", t):
        d.w("\t\tDevice specific mode supported\n")
    if _f(X.TPH_CAP, "extended_requester", t):
        d.w("\t\tExtended requester support\n")
    loc = ("No steering table available", "Steering table in TPH capability structure",
           "Steering table in MSI-X table", "Reserved steering table location")
    d.w(f"\t\t{loc[_f(X.TPH_CAP, 'st_table_location', t)]}\n")


def ecap_sriov(d: _Dev, where: int, exp_type: int) -> None:
    """SR-IOV (PCIe 9.3.3): capabilities, control, VF counts, offset/stride, VF BARs."""
    if not d.fetch(where + X.SRIOV_CAP.offset, 0x3C):
        return

    def val(reg: Register) -> int:
        return (d.word if reg.size == 2 else d.long if reg.size == 4 else d.byte)(
            where + reg.offset)

    d.w(fmt(X.SRIOV_CAP, val(X.SRIOV_CAP), "\t\tIOVCap:\tMigration{vf_migration} "
            "10BitTagReq{vf_10bit_tag_requester} Interrupt Message Number: "
            "{migration_interrupt:03x}\n"))
    d.w(fmt(X.SRIOV_CTRL, val(X.SRIOV_CTRL), "\t\tIOVCtl:\tEnable{vf_enable} "
            "Migration{vf_migration_enable} Interrupt{vf_migration_interrupt} MSE{vf_mse} "
            "ARIHierarchy{ari_hierarchy} 10BitTagReq{vf_10bit_tag_requester}\n"))
    d.w(fmt(X.SRIOV_STATUS, val(X.SRIOV_STATUS), "\t\tIOVSta:\tMigration{vf_migration}\n"))
    d.w(f"\t\tInitial VFs: {val(X.SRIOV_INITIAL_VFS)}, Total VFs: {val(X.SRIOV_TOTAL_VFS)}, "
        f"Number of VFs: {val(X.SRIOV_NUM_VFS)}, Function Dependency Link: "
        f"{val(X.SRIOV_FDL):02x}\n")
    d.w(f"\t\tVF offset: {val(X.SRIOV_VF_OFFSET)}, stride: {val(X.SRIOV_VF_STRIDE)}, "
        f"Device ID: {val(X.SRIOV_VF_DEVICE):04x}\n")
    d.w(f"\t\tSupported Page Size: {val(X.SRIOV_SUPPORTED_PAGE_SIZES):08x}, "
        f"System Page Size: {val(X.SRIOV_SYSTEM_PAGE_SIZE):08x}\n")
    i = 0
    while i < X.SRIOV_VF_BARS:
        bar = d.long(where + X.SRIOV_VF_BAR0 + 4 * i)
        if bar in (0, 0xFFFFFFFF):
            i += 1
            continue
        typ = (bar >> 1) & 3
        text = f"\t\tRegion {i}: Memory at "
        if typ == 2:
            i += 1
            text += f"{d.long(where + X.SRIOV_VF_BAR0 + 4 * i):08x}"
        text += (f"{bar & ~0xF & 0xFFFFFFFF:08x} ({'32' if typ == 0 else '64'}-bit, "
                 f"{'' if bar & 8 else 'non-'}prefetchable)\n")
        d.w(text)
        i += 1
    ms = val(X.SRIOV_MIGRATION_STATE)
    d.w(f"\t\tVF Migration: offset: {ms & ~7 & 0xFFFFFFFF:08x}, "
        f"BIR: {_f(X.SRIOV_MIGRATION_STATE, 'bir', ms):x}\n")


EXT_SUBLINES: dict[int, Callable[[_Dev, int, int], None]] = {
    **{cid: _ecap_lines(cid) for cid in _REGISTER_LINES},
    X.ECAP_AER: ecap_aer, X.ECAP_ACS: ecap_acs, X.ECAP_PRI: ecap_pri, X.ECAP_LTR: ecap_ltr,
    X.ECAP_SEC: ecap_sec, X.ECAP_TPH: ecap_tph, X.ECAP_SRIOV: ecap_sriov,
}


def _table(tab: tuple[str, ...], i: int) -> str:
    return tab[i] if i < len(tab) else f"??{i}"


_ARB = ("Fixed", "WRR32", "WRR64", "WRR128", "??4", "??5", "??6", "??7")
_VC_ARB = ("Fixed", "WRR32", "WRR64", "WRR128", "TWRR128", "WRR256", "??6", "??7")


def _arb(names: tuple[str, ...], bits: int, lead: str) -> str:
    return "".join(f"{' ' if i else lead}{n}{flag(bits >> i & 1)}"
                   for i, n in enumerate(names) if not n.startswith("?") or bits >> i & 1)


def ecap_vc(d: _Dev, where: int, exp_type: int) -> None:
    """Virtual Channel (PCIe 7.9.1): port capabilities, arbitration and each VC resource."""
    if not d.fetch(where + 4, 0x1C - 4):
        return
    cr1 = d.long(where + X.VC_PORT_CAP1.offset)
    cr2 = d.long(where + X.VC_PORT_CAP2.offset)
    d.w(fmt(X.VC_PORT_CAP1, cr1, "\t\tCaps:\tLPEVC={low_priority_evc_count} RefClk={rc} "
            "PATEntryBits={pb}\n",
            rc=_table(("100ns",), _f(X.VC_PORT_CAP1, "reference_clock", cr1)),
            pb=1 << _f(X.VC_PORT_CAP1, "port_arb_table_entry_size", cr1)))
    d.w("\t\tArb:" + _arb(_ARB, _f(X.VC_PORT_CAP2, "arb_capability", cr2), "\t"))
    ctrl = d.word(where + X.VC_PORT_CTRL.offset)
    d.w(f"\n\t\tCtrl:\tArbSelect={_table(_ARB, _f(X.VC_PORT_CTRL, 'arb_select', ctrl))}\n")
    st = d.word(where + X.VC_PORT_STATUS.offset)
    d.w(fmt(X.VC_PORT_STATUS, st, "\t\tStatus:\tInProgress{arb_table_status}\n"))
    pat = _f(X.VC_PORT_CAP2, "arb_table_offset", cr2)
    if pat:
        d.w(f"\t\tPort Arbitration Table [{where + 16 * pat:x}] <?>\n")
    for i in range(_f(X.VC_PORT_CAP1, "extended_vc_count", cr1) + 1):
        pos = where + X.VC_RESOURCE0 + X.VC_RESOURCE_SIZE * i
        d.w(f"\t\tVC{i}:\t")
        if not d.fetch(pos, X.VC_RESOURCE_SIZE):
            d.w("<unreadable>\n")
            continue
        rcap, rctrl = d.long(pos + X.VC_RES_CAP.offset), d.long(pos + X.VC_RES_CTRL.offset)
        rst = d.word(pos + X.VC_RES_STATUS.offset)
        d.w(fmt(X.VC_RES_CAP, rcap, "Caps:\tPATOffset={port_arb_table_offset:02x} "
                "MaxTimeSlots={mts} RejSnoopTrans{reject_snoop}\n",
                mts=_f(X.VC_RES_CAP, "max_time_slots", rcap) + 1))
        d.w("\t\t\tArb:" + _arb(_VC_ARB, _f(X.VC_RES_CAP, "port_arb_capability", rcap), "\t"))
        d.w(fmt(X.VC_RES_CTRL, rctrl, "\n\t\t\tCtrl:\tEnable{enable} ID={vc_id} "
                "ArbSelect={sel} TC/VC={tc_vc_map:02x}\n",
                sel=_table(_VC_ARB, _f(X.VC_RES_CTRL, "port_arb_select", rctrl))))
        d.w(fmt(X.VC_RES_STATUS, rst, "\t\t\tStatus:\tNegoPending{negotiation_pending} "
                "InProgress{port_arb_table_status}\n"))
        if _f(X.VC_RES_CAP, "port_arb_table_offset", rcap):
            d.w("\t\t\tPort Arbitration Table <?>\n")


def _pwron(scale: int, value: int) -> str:
    """T_PowerOn in us (PCIe 7.8.3.2: scale 2/10/100 us), ``<error>`` for a reserved scale."""
    return f"{value * (2, 10, 100)[scale]}us" if scale < 3 else "<error>"


def ecap_l1ss(d: _Dev, where: int, exp_type: int) -> None:
    """L1 PM Substates (PCIe 7.8.3): supported and enabled substates, timing parameters."""
    if not d.fetch(where + L1_CAP_OFF, 12):
        d.w("\t\t<unreadable>\n")
        return
    cap = d.long(where + X.L1SS_CAP.offset)
    d.w(fmt(X.L1SS_CAP, cap, "\t\tL1SubCap: PCI-PM_L1.2{pci_pm_l12} PCI-PM_L1.1{pci_pm_l11} "
            "ASPM_L1.2{aspm_l12} ASPM_L1.1{aspm_l11} L1_PM_Substates{l1ss}\n"))
    l12 = _f(X.L1SS_CAP, "pci_pm_l12", cap) or _f(X.L1SS_CAP, "aspm_l12", cap)
    if l12:
        d.w(fmt(X.L1SS_CAP, cap, "\t\t\t  PortCommonModeRestoreTime={common_mode_restore_time}us "
                "PortTPowerOnTime={t}\n",
                t=_pwron(_f(X.L1SS_CAP, "power_on_scale", cap),
                         _f(X.L1SS_CAP, "power_on_value", cap))))
    v = d.long(where + X.L1SS_CTL1.offset)
    d.w(fmt(X.L1SS_CTL1, v, "\t\tL1SubCtl1: PCI-PM_L1.2{pci_pm_l12} PCI-PM_L1.1{pci_pm_l11} "
            "ASPM_L1.2{aspm_l12} ASPM_L1.1{aspm_l11}\n"))
    if l12:
        s = fmt(X.L1SS_CTL1, v, "\t\t\t   T_CommonMode={common_mode_restore_time}us")
        if _f(X.L1SS_CAP, "aspm_l12", cap):
            scale = _f(X.L1SS_CTL1, "ltr_l12_threshold_scale", v)
            s += (" LTR1.2_Threshold=<error>" if scale > 5 else
                  f" LTR1.2_Threshold="
                  f"{_f(X.L1SS_CTL1, 'ltr_l12_threshold_value', v) << (5 * scale)}ns")
        d.w(s + "\n")
    v = d.long(where + X.L1SS_CTL2.offset)
    s = "\t\tL1SubCtl2:"
    if l12:
        s += (" T_PwrOn=" + _pwron(_f(X.L1SS_CTL2, "power_on_scale", v),
                                   _f(X.L1SS_CTL2, "power_on_value", v)))
    d.w(s + "\n")


L1_CAP_OFF = X.L1SS_CAP.offset
EXT_SUBLINES.update({X.ECAP_VC: ecap_vc, X.ECAP_VC9: ecap_vc, X.ECAP_L1SS: ecap_l1ss})


# -- older standard capabilities ----------------------------------------------------------------
def _agp_rate(rate: int, agp3: bool) -> str:
    r = ",".join(f"x{1 << (i + 2 * agp3)}" for i in range(3) if rate >> i & 1)
    return r or "<none>"


def cap_agp(d: _Dev, where: int, cap: int) -> None:
    """AGP (AGP 3.0 6.1): version line, Status and Command."""
    ver, rev = (cap >> 4) & 0xF, cap & 0xF
    d.w(f"AGP version {ver:x}.{rev:x}\n")
    if not d.fetch(where + X.AGP_STATUS.offset, X.AGP_SIZE - X.AGP_STATUS.offset):
        return
    t = d.long(where + X.AGP_STATUS.offset)
    agp3 = ver >= 3 and bool(_f(X.AGP_STATUS, "agp3", t))
    d.w(fmt(X.AGP_STATUS, t, "\t\tStatus: RQ={rq1} Iso{isoch} ArqSz={arqsz} Cal={cal} SBA{sba}"
            " ITACoh{ita_coherent} GART64{gart64} HTrans{htrans} 64bit{addr64} FW{fw} "
            "AGP3{agp3} Rate={r}\n", rq1=_f(X.AGP_STATUS, "rq", t) + 1,
            r=_agp_rate(_f(X.AGP_STATUS, "rate", t), agp3)))
    t = d.long(where + X.AGP_COMMAND.offset)
    d.w(fmt(X.AGP_COMMAND, t, "\t\tCommand: RQ={rq1} ArqSz={arqsz} Cal={cal} SBA{sba} AGP{agp}"
            " GART64{gart64} 64bit{addr64} FW{fw} Rate={r}\n",
            rq1=_f(X.AGP_COMMAND, "rq", t) + 1,
            r=_agp_rate(_f(X.AGP_COMMAND, "rate", t), agp3)))


_MAX_OUTSTANDING = (1, 2, 3, 4, 8, 12, 16, 32)


def cap_pcix_nobridge(d: _Dev, where: int) -> None:
    """PCI-X non-bridge capability (PCI-X 2.0 7.2): Command and Status."""
    d.w("PCI-X non-bridge device\n")
    if not d.fetch(where + X.PCIX_STATUS.offset, 4):
        return
    c = d.word(where + X.PCIX_COMMAND.offset)
    d.w(fmt(X.PCIX_COMMAND, c, "\t\tCommand: DPERE{dpere} ERO{ero} RBC={rbc} OST={ost}\n",
            rbc=1 << (9 + _f(X.PCIX_COMMAND, "mmrbc", c)),
            ost=_MAX_OUTSTANDING[_f(X.PCIX_COMMAND, "most", c)]))
    s = d.long(where + X.PCIX_STATUS.offset)
    d.w(fmt(X.PCIX_STATUS, s, "\t\tStatus: Dev={bus:02x}:{device:02x}.{function} "
            "64bit{addr64} 133MHz{mhz133} SCD{sc_discarded} USC{unexpected_sc} DC={dc} "
            "DMMRBC={dm} DMOST={do} DMCRS={dc2} RSCEM{rscem} 266MHz{mhz266} 533MHz{mhz533}\n",
            dc="bridge" if _f(X.PCIX_STATUS, "bridge", s) else "simple",
            dm=1 << (9 + _f(X.PCIX_STATUS, "dmmrbc", s)),
            do=_MAX_OUTSTANDING[_f(X.PCIX_STATUS, "dmost", s)],
            dc2=1 << (3 + _f(X.PCIX_STATUS, "dmcrs", s))))


def cap_af(d: _Dev, where: int) -> None:
    """PCI Advanced Features (ECN): transactions pending and FLR."""
    d.w("PCI Advanced Features\n")
    if not d.fetch(where + X.AF_CAP.offset, 3):
        return
    d.w(fmt(X.AF_CAP, d.byte(where + X.AF_CAP.offset), "\t\tAFCap: TP{tp} FLR{flr}\n"))
    d.w(fmt(X.AF_CTRL, d.byte(where + X.AF_CTRL.offset), "\t\tAFCtrl: FLR{flr}\n"))
    d.w(fmt(X.AF_STATUS, d.byte(where + X.AF_STATUS.offset), "\t\tAFStatus: TP{tp}\n"))


def cap_vpd(d: _Dev) -> None:
    """VPD is read through the device's address/data registers, which a dump cannot do."""
    d.w("Vital Product Data\n\t\tNot readable\n")


_EA_PROPS = {0x00: "memory space, non-prefetchable", 0x01: "memory space, prefetchable",
             0x02: "I/O space", 0x03: "VF memory space, prefetchable",
             0x04: "VF memory space, non-prefetchable",
             0x05: "allocation behind bridge, non-prefetchable memory",
             0x06: "allocation behind bridge, prefetchable memory",
             0x07: "allocation behind bridge, I/O space",
             0xFD: "memory space resource unavailable for use",
             0xFE: "I/O space resource unavailable for use"}


def _bei(bei: int) -> str:
    if bei <= 5:
        return f"BAR {bei}"
    if 9 <= bei <= 14:
        return f"VF-BAR {bei - 9}"
    return {6: "resource behind function", 7: "not indicated",
            8: "expansion ROM"}.get(bei, "reserved")


def cap_ea_entries(d: _Dev, where: int, cap: int, bridge: bool) -> None:
    """Enhanced Allocation entries (PCIe 7.8.5.3): BEI, properties, base and max offset."""
    base_pos = where + (8 if bridge else 4)
    for entry in range(cap & 0x3F):
        if not d.fetch(base_pos, 4):
            return
        h = d.long(base_pos)
        es = _f(X.EA_ENTRY, "entry_size", h)
        if not d.fetch(base_pos + 4, es * 4):
            return
        pp, sp = _f(X.EA_ENTRY, "primary_properties", h), _f(X.EA_ENTRY,
                                                             "secondary_properties", h)
        d.w(fmt(X.EA_ENTRY, h, "\t\tEntry {n}: Enable{enable} Writable{writable} "
                "EntrySize={entry_size}\n", n=entry))
        d.w(f"\t\t\t BAR Equivalent Indicator: {_bei(_f(X.EA_ENTRY, 'bei', h))}\n")
        p1 = "entry unavailable for use" if pp == 0xFF else _EA_PROPS.get(pp, f"[{pp:02x}]")
        p2 = ("entry unavailable for use, PrimaryProperties should be used" if sp == 0xFF
              else _EA_PROPS.get(sp, f"[{sp:02x}]"))
        d.w(f"\t\t\t PrimaryProperties: {p1}\n\t\t\t SecondaryProperties: {p2}\n")
        base, maxoff = d.long(base_pos + 4), d.long(base_pos + 8)
        high_pos = base_pos + 12
        s = "\t\t\t Base: "
        if base & 2:
            s += f"{d.long(base_pos + 12):x}"
            high_pos += 4
        s += f"{base & ~3 & 0xFFFFFFFF:08x}\n\t\t\t MaxOffset: "
        if maxoff & 2:
            s += f"{d.long(high_pos):x}"
        d.w(s + f"{maxoff | 3:08x}\n")
        base_pos += 4 + 4 * es


def ecap_rclink(d: _Dev, where: int, exp_type: int) -> None:
    """Root Complex Link Declaration (PCIe 7.9.8): element and each link entry."""
    if not d.fetch(where + 4, X.RCLINK_ENTRY0 - 4):
        return
    esd = d.long(where + X.RCLINK_ESD.offset)
    d.w(fmt(X.RCLINK_ESD, esd, "\t\tDesc:\tPortNumber={port_number:02x} "
            "ComponentID={component_id:02x} EltType={et}\n",
            et=_table(("Config", "Egress", "Internal"), esd & 0xFF)))
    for i in range(_f(X.RCLINK_ESD, "links", esd)):
        pos = where + X.RCLINK_ENTRY0 + i * X.RCLINK_ENTRY_SIZE
        d.w(f"\t\tLink{i}:\t")
        if not d.fetch(pos, X.RCLINK_ENTRY_SIZE):
            d.w("<unreadable>\n")
            return
        desc = d.long(pos + X.RCLINK_DESC.offset)
        lo, hi = d.long(pos + 8), d.long(pos + 12)
        cfg = _f(X.RCLINK_DESC, "type", desc)
        d.w(fmt(X.RCLINK_DESC, desc, "Desc:\tTargetPort={target_port:02x} "
                "TargetComponent={target_component:02x} AssocRCRB{assoc_rcrb} "
                "LinkType={lt} LinkValid{valid}\n", lt="Config" if cfg else "MemMapped"))
        if cfg:
            n = (lo & 7) or 8
            d.w(f"\t\t\tAddr:\t{(lo >> 20) & ((1 << n) - 1):02x}:{(lo >> 15) & 0x1F:02x}."
                f"{(lo >> 12) & 7}  CfgSpace={hi:08x}{lo:08x}\n")
        else:
            d.w(f"\t\t\tAddr:\t{hi:08x}{lo:08x}\n")


EXT_SUBLINES[X.ECAP_RCLINK] = ecap_rclink


_HT_WIDTH = ("8bit", "16bit", "[2]", "32bit", "2bit", "4bit", "[6]", "N/C")
_HT_FREQ = ("200MHz", "300MHz", "400MHz", "500MHz", "600MHz", "800MHz", "1.0GHz", "1.2GHz",
            "1.4GHz", "1.6GHz", "[a]", "[b]", "[c]", "[d]", "[e]", "Vend")
_HT_LCTR_T = ("CFlE{crc_flood} CST{crc_start_test} CFE{crc_force_error} <LkFail{link_failure} "
              "Init{init_complete} EOC{end_of_chain} TXO{transmitter_off} <CRCErr={crc_error:x}")


def cap_ht_primary(d: _Dev, where: int, cmd: int) -> None:
    """HyperTransport Slave/Primary Interface block (HyperTransport I/O Link 3.10, 7.5)."""
    d.w("HyperTransport: Slave or Primary Interface\n")
    if not d.fetch(where + X.HT_PRI_LCTR0.offset, X.HT_PRI_SIZE - X.HT_PRI_LCTR0.offset):
        return
    rid = d.byte(where + X.HT_PRI_RID.offset)
    new = rid >= 0x22
    if 0x11 < rid < 0x22:
        d.w("\t\t!!! Possibly incomplete decoding\n")
    s = fmt(X.HT_PRI_CMD, cmd, "\t\tCommand: BaseUnitID={base_unit_id} UnitCnt={unit_count} "
            "MastHost{master_host} DefDir{default_direction}")
    if new:
        s += fmt(X.HT_PRI_CMD, cmd, " DUL{drop_uninit_link}")
    d.w(s + "\n")
    for n, lctr, lcnf in ((0, X.HT_PRI_LCTR0, X.HT_PRI_LCNF0), (1, X.HT_PRI_LCTR1,
                                                                  X.HT_PRI_LCNF1)):
        v = d.word(where + lctr.offset)
        s = fmt(lctr, v, f"\t\tLink Control {n}: " + _HT_LCTR_T)
        if new:
            s += fmt(lctr, v, " IsocEn{isoc_enable} LSEn{ldtstop_tristate} ExtCTL{extended_ctl}"
                     " 64b{addr64}")
        d.w(s + "\n")
        c = d.word(where + lcnf.offset)
        w = {k: _HT_WIDTH[_f(lcnf, k, c)] for k in ("max_width_in", "max_width_out", "width_in",
                                                    "width_out")}
        if new:
            d.w(fmt(lcnf, c, f"\t\tLink Config {n}: MLWI={{a}} DwFcIn{{dw_fc_in}} MLWO={{b}} "
                    "DwFcOut{dw_fc_out} LWI={c} DwFcInEn{dw_fc_in_enable} LWO={d} "
                    "DwFcOutEn{dw_fc_out_enable}\n", a=w["max_width_in"],
                    b=w["max_width_out"], c=w["width_in"], d=w["width_out"]))
        else:
            d.w(f"\t\tLink Config {n}: MLWI={w['max_width_in']} MLWO={w['max_width_out']} "
                f"LWI={w['width_in']} LWO={w['width_out']}\n")
    d.w(fmt(X.HT_PRI_RID, rid, "\t\tRevision ID: {major}.{minor:02d}\n"))
    if not new:
        return
    lf = ("200MHz{f200} 300MHz{f300} 400MHz{f400} 500MHz{f500} 600MHz{f600} 800MHz{f800} "
          "1.0GHz{f1000} 1.2GHz{f1200} 1.4GHz{f1400} 1.6GHz{f1600} Vend{vendor}\n")
    le = ("<Prot{protocol_error} <Ovfl{overflow_error} <EOC{end_of_chain_error} "
          "CTLTm{ctl_timeout}\n")
    for n, lfrer, lfcap in ((0, X.HT_PRI_LFRER0, X.HT_PRI_LFCAP0),
                            (1, X.HT_PRI_LFRER1, X.HT_PRI_LFCAP1)):
        v = d.byte(where + lfrer.offset)
        d.w(f"\t\tLink Frequency {n}: {_HT_FREQ[_f(lfrer, 'frequency', v)]}\n")
        d.w(fmt(lfrer, v, f"\t\tLink Error {n}: " + le))
        # pciutils 3.9 reads the 16-bit capability as a byte: 1.4GHz and 1.6GHz print "-".
        d.w(fmt(lfcap, d.byte(where + lfcap.offset), f"\t\tLink Frequency Capability {n}: "
                + lf))
        if n == 0:
            d.w(fmt(X.HT_PRI_FTR, d.byte(where + X.HT_PRI_FTR.offset),
                    "\t\tFeature Capability: IsocFC{isoc_fc} LDTSTOP{ldtstop} "
                    "CRCTM{crc_test_mode} ECTLT{extended_ctl_required} 64bA{addr64} "
                    "UIDRD{unit_id_reorder_disable}\n"))
    names = ("PFlE{pfle} OFlE{ofle} PFE{pfe} OFE{ofe} EOCFE{eocfe} RFE{rfe} CRCFE{crcfe} "
             "SERRFE{serrfe} CF{cf} RE{re} PNFE{pnfe} ONFE{onfe} EOCNFE{eocnfe} RNFE{rnfe} "
             "CRCNFE{crcnfe} SERRNFE{serrnfe}\n")
    d.w(fmt(X.HT_PRI_EH, d.word(where + X.HT_PRI_EH.offset), "\t\tError Handling: " + names))
    d.w(f"\t\tPrefetchable memory behind bridge Upper: {d.byte(where + X.HT_PRI_MBU):02x}-"
        f"{d.byte(where + X.HT_PRI_MLU):02x}\n")
    d.w(f"\t\tBus Number: {d.byte(where + X.HT_PRI_BN):02x}\n")
