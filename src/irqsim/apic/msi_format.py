"""Compatibility alias: the MSI address/data format is declared in :mod:`irqsim.spec.msi`."""

from irqsim.spec.msi import (
    DELIVERY_MODE_NAMES,
    DM_EXTINT,
    DM_FIXED,
    DM_INIT,
    DM_LOWEST,
    DM_NMI,
    DM_SMI,
    DM_STARTUP,
    MSI_ADDRESS,
    MSI_DATA,
    MSI_WINDOW,
    decode,
    msi_address,
    msi_data,
)

__all__ = ["DELIVERY_MODE_NAMES", "DM_EXTINT", "DM_FIXED", "DM_INIT", "DM_LOWEST", "DM_NMI",
           "DM_SMI", "DM_STARTUP", "MSI_ADDRESS", "MSI_DATA", "MSI_WINDOW", "decode",
           "msi_address", "msi_data"]
