"""A network lab for tests: real network namespaces, veth pairs, routes, nftables NAT and
firewall rules and ``tc`` rate limits, with a node, coturn and Chromium running inside them.

Everything is created by the test and removed when it ends, failed or not; nothing routes beyond
the machine; all addresses come from the documentation ranges. Needs root, ``iproute2`` and
``nftables`` (``scripts/test.sh`` installs them). ``tests/lab/README.md`` is the guide::

    async with lab_network(tmp_path) as lab:          # or the ``lab`` pytest fixture
        node = lab.node("--mode", "sfu")               # a node on a public address, port 443
        net = lab.browser_net("cone_nat")              # a browser's home network behind a NAT
        net.shape(down_kbps=500)                       # a 500 kbps downlink (tc tbf)
        browser = await net.chromium(playwright)       # Chromium running in that network
        page = await (await browser.new_context()).new_page()
        await page.goto(node.url_for(net))
"""

from tests.lab.coturn import Coturn
from tests.lab.lab import Lab, LabNode, lab_namespaces, lab_network
from tests.lab.topology import KINDS, Kind, Network

__all__ = [
    "KINDS",
    "Coturn",
    "Kind",
    "Lab",
    "LabNode",
    "Network",
    "lab_namespaces",
    "lab_network",
]
