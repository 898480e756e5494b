"""Where the border share of the fast method's 5% subsets comes from (issue 34, session 18).

Dev-only (numpy): for each image finished in both runs, the share of pixels within 2 px of the
border among the last 5% of each order (the 5% subset) and among the last 256 (the pool the early
phase leaves to the screened exact phase), by the image's confidence.

    python3 experiments/fast-selection/border_pool.py REFERENCE_RUN FAST_RUN
"""
import numpy as np, glob, sys
def load(d):
    out={}
    for f in sorted(glob.glob(d+'/shard-*.npz')):
        z=np.load(f)
        for i,p in enumerate(z['position']):
            out[int(p)]=dict(order=z['order'][i].astype(int), values=z['values'][i], conf=float(z['confidence'][i]), pred=int(z['predicted'][i]), label=int(z['label'][i]))
    return out
def border(pix, ring=2, n=32):
    y,x=pix//n, pix%n
    return np.mean((y<ring)|(y>=n-ring)|(x<ring)|(x>=n-ring))
ref=load(sys.argv[1]); fast=load(sys.argv[2])
k=int(round(0.05*1024))
rows=[]
for p in sorted(ref):
    if p not in fast: continue
    r=ref[p]; f=fast[p]
    rb=border(r['order'][-k:]); fb=border(f['order'][-k:])
    # how many pixels the fast early phase masked: count of leading equal values (blocks)
    v=f['values']; 
    # last 256 of the order: share of border
    rb256=border(r['order'][-256:]); fb256=border(f['order'][-256:])
    rows.append((p, r['conf'], r['pred']==r['label'], rb, fb, rb256, fb256))
rows.sort(key=lambda t: t[1])
print("pos conf correct | 5%: exact fast | last256: exact fast")
for t in rows: print("%5d %.3f %d | %.2f %.2f | %.2f %.2f"%(t[0],t[1],t[2],t[3],t[4],t[5],t[6]))
a=np.array([t[1:] for t in rows],dtype=float)
lo=a[:,0]<0.999
print("n=%d, conf<0.999: %d"%(len(a), lo.sum()))
for name,m in [("all",np.ones(len(a),bool)),("conf<0.999",lo),("conf>=0.999",~lo)]:
    print(name, "5%% border exact %.3f fast %.3f | last256 exact %.3f fast %.3f"%(a[m,2].mean(),a[m,3].mean(),a[m,4].mean(),a[m,5].mean()))
