"""Neural network models of SAKDN (teachers and the video student)."""
