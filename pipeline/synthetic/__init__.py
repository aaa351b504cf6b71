"""Built-in synthetic paired dataset: an articulated 3D body performs actions; wearable
sensor signals (CSV) and rendered videos are derived from the same motion. Seeded and
deterministic, so the whole pipeline runs and is tested without any download."""
from pipeline.synthetic.actions import CLASS_NAMES
from pipeline.synthetic.generate import generate_dataset
from pipeline.synthetic.sensors import SENSORS

__all__ = ["CLASS_NAMES", "SENSORS", "generate_dataset"]
