"""Reference for bench/slices-accuracy.ts: the shifted Gram in numpy longdouble (64-bit mantissa)
and each candidate's error relative to the column norms. Usage: python3 bench/slices_accuracy.py [dir]"""
import sys
import numpy as np, json
d = sys.argv[1] if len(sys.argv) > 1 else "/tmp/deep-nrc-slices"
m, n = 4000, 48
a = np.fromfile(d + "/a.bin", dtype=np.float64).reshape(m, n)
s = np.fromfile(d + "/shift.bin", dtype=np.float64)
x = a.astype(np.longdouble) - s.astype(np.longdouble)
G = x.T @ x  # longdouble (64-bit mantissa)
out = json.load(open(d + "/out.json"))
dg = np.sqrt(np.diag(G))
norm = np.outer(dg, dg)
for k, v in out.items():
    v = np.array(v, dtype=np.longdouble).reshape(n, n)
    e = np.abs(v - G) / norm
    print(f"{k:5s} max |ΔG_ij|/(‖x_i‖‖x_j‖) = {float(e.max()):.2e}  median {float(np.median(e)):.2e}  ‖ΔG‖_F/‖G‖_F = {float(np.linalg.norm((v-G).astype(np.float64))/np.linalg.norm(G.astype(np.float64))):.2e}")
