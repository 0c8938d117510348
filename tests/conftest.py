import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent / "golden"))
sys.path.insert(0, str(Path(__file__).parent / "fuzz"))

from hypothesis import settings

# No per-example deadline: the suite runs on shared 2-core machines where a loaded moment
# can make one example slow; a property fails on its assertions, not on the wall clock.
settings.register_profile("irqsim", deadline=None)
settings.load_profile("irqsim")
