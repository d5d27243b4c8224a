"""The fault modes, one module each: how a failing GPU's precursor acts on its signals as its progress p
(0 at the precursor's onset, 1 at the failure; ``Engine.progress``, shaped by ``Engine.shaped``) grows,
and what happens at the failure itself. The engine calls them in a fixed order each step (the order of
their random draws is part of a seeded history).

- ``memory``: SBEs grow as p^2, then correctable row remaps (p > 0.3), then DBEs with uncorrectable
  remaps or retired pages (p > 0.6); at failure a row-remap failure; with the memory look-alikes (an
  SBE burst, a one-off remap);
- ``thermal``: the thermal resistance grows up to 40 %; at failure the GPU shuts down;
- ``power``: draw spikes and oscillation, power-brake slowdowns, XIDs 61 and 62;
- ``interconnect``: PCIe replays and NVLink errors grow, the link trains down, XID 74;
- ``application``: application XIDs on busy GPUs, not a fault of the GPU;
- ``terminal``: the failure itself (XIDs 64 and 95, 119 or 79; off the bus).
"""
