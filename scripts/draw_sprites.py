"""Draw Canopy's own sprites into `assets/sprites/` (Pillow only, deterministic).

    python scripts/draw_sprites.py          # (re)write the PNGs
    python scripts/draw_sprites.py --check  # exit 1 if the committed PNGs differ from what this draws

Every species is drawn at every stage (seed, sprout, sapling, young, grown) as a transparent
256x256 PNG named `<species>-<stage>.png`; species are keyed by the slug of their common name, and
`generic` is the fallback for species an operator adds later. `ball.png` is the energy ball.
Shapes are drawn at twice the size and scaled down for smooth edges; the only randomness is a
`random.Random` seeded by the species and stage, so a run always draws the same pixels.
"""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

SPRITES = Path(__file__).resolve().parents[1] / "assets" / "sprites"
SIZE = 256
SCALE = 2  # drawn at 512x512, saved at 256x256
CANVAS = SIZE * SCALE
STAGES = ("seed", "sprout", "sapling", "young", "grown")
GROWTH = {"sapling": 0.4, "young": 0.68, "grown": 1.0}  # share of the full height
BASE = (CANVAS // 2, CANVAS - 50)  # where the stem meets the soil
FULL_HEIGHT = CANVAS - 110

Color = tuple[int, int, int] | tuple[int, int, int, int]
Draw = ImageDraw.ImageDraw


def _ellipse_points(cx: float, cy: float, length: float, width: float, angle: float, n: int = 20) -> list:
    """A rotated ellipse as a polygon (Pillow's ellipses are axis-aligned)."""
    cos, sin = math.cos(angle), math.sin(angle)
    points = []
    for i in range(n):
        t = 2 * math.pi * i / n
        x, y = length / 2 * math.cos(t), width / 2 * math.sin(t)
        points.append((cx + x * cos - y * sin, cy + x * sin + y * cos))
    return points


def leaf(draw: Draw, x: float, y: float, length: float, width: float, angle: float, fill: Color) -> None:
    """A leaf whose base is at (x, y), pointing along `angle` (radians, 0 = right, -pi/2 = up)."""
    cx, cy = x + math.cos(angle) * length / 2, y + math.sin(angle) * length / 2
    draw.polygon(_ellipse_points(cx, cy, length, width, angle), fill=fill)


def stroke(draw: Draw, points: list, width: float, fill: Color) -> None:
    draw.line(points, fill=fill, width=max(1, round(width)), joint="curve")
    for x, y in (points[0], points[-1]):
        r = width / 2
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)


def blob(draw: Draw, x: float, y: float, r: float, fill: Color) -> None:
    draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)


def soil(draw: Draw) -> None:
    x, y = BASE
    draw.ellipse((x - 150, y - 22, x + 150, y + 30), fill=(121, 85, 58))
    draw.ellipse((x - 130, y - 26, x + 130, y + 14), fill=(143, 104, 72))


def branch(
    draw: Draw, rng: random.Random, start: tuple[float, float], angle: float, length: float, width: float, bend: float
) -> list[tuple[float, float]]:
    """A wavy branch of a few segments; returns its points."""
    points = [start]
    x, y = start
    for _ in range(5):
        angle += rng.uniform(-bend, bend)
        x, y = x + math.cos(angle) * length / 5, y + math.sin(angle) * length / 5
        points.append((x, y))
    return points


# Species -------------------------------------------------------------------------------------


class Species:
    seed_color: Color = (150, 105, 60)
    leaf_color: Color = (76, 160, 70)
    stem_color: Color = (110, 80, 50)

    def seed(self, draw: Draw, rng: random.Random) -> None:
        x, y = BASE
        draw.polygon(_ellipse_points(x, y - 26, 54, 34, -0.35), fill=self.seed_color)
        draw.polygon(_ellipse_points(x - 8, y - 32, 18, 8, -0.35), fill=(255, 255, 255, 90))

    def sprout(self, draw: Draw, rng: random.Random) -> None:
        x, y = BASE
        top = (x + 4, y - 110)
        stroke(draw, [(x, y - 10), (x - 6, y - 60), top], 9, self.stem_color)
        leaf(draw, *top, 64, 28, -2.7, self.leaf_color)
        leaf(draw, *top, 64, 28, -0.45, self.leaf_color)

    def plant(self, draw: Draw, rng: random.Random, growth: float) -> None:
        raise NotImplementedError


class Generic(Species):
    """A broadleaf tree: a trunk and a round crown (the fallback for any new species)."""

    def plant(self, draw: Draw, rng: random.Random, growth: float) -> None:
        x, y = BASE
        height = FULL_HEIGHT * growth
        trunk = 8 + 26 * growth
        crown_y, crown_r = y - height * 0.66, height * 0.34
        stroke(draw, [(x, y - 8), (x, crown_y)], trunk, (120, 82, 52))
        for side in (-1, 1):
            stroke(
                draw,
                [(x, y - height * 0.45), (x + side * crown_r * 0.5, crown_y - crown_r * 0.2)],
                trunk * 0.4,
                (120, 82, 52),
            )
        dark, light = (46, 125, 50), (102, 187, 106)
        for i in range(9):
            a = 2 * math.pi * i / 9
            blob(draw, x + math.cos(a) * crown_r * 0.55, crown_y + math.sin(a) * crown_r * 0.45, crown_r * 0.5, dark)
        blob(draw, x, crown_y, crown_r * 0.7, dark)
        for _ in range(int(6 + 10 * growth)):
            a, d = rng.uniform(0, 2 * math.pi), rng.uniform(0, crown_r * 0.7)
            blob(draw, x + math.cos(a) * d, crown_y - abs(math.sin(a)) * d * 0.8, crown_r * 0.16, light)


class Saxaul(Species):
    """Haloxylon: a gnarled, multi-stemmed desert shrub with drooping, jointed grey-green twigs."""

    seed_color = (196, 170, 120)
    leaf_color = (140, 160, 90)
    stem_color = (125, 110, 95)

    def plant(self, draw: Draw, rng: random.Random, growth: float) -> None:
        x, y = BASE
        height = FULL_HEIGHT * growth * 0.72  # a shrub: lower and wider
        bark, twig, twig_light = (115, 100, 88), (128, 150, 82), (170, 186, 110)
        stems = 3 + round(3 * growth)
        tips = []
        for i in range(stems):
            angle = -math.pi / 2 + (i - (stems - 1) / 2) * (0.9 / max(1, stems - 1)) * 1.2
            points = branch(draw, rng, (x + rng.uniform(-10, 10), y - 6), angle, height, 0, 0.2)
            stroke(draw, points, 6 + 16 * growth, bark)
            tips.append(points[-1])
            tips.append(points[3])
        for tx, ty in tips:
            for _ in range(int(10 + 14 * growth)):
                sx, sy = tx + rng.uniform(-40, 40) * growth, ty + rng.uniform(-30, 20) * growth
                length = rng.uniform(30, 70) * (0.5 + growth / 2)
                angle = math.pi / 2 + rng.uniform(-0.6, 0.6)  # drooping
                ex, ey = sx + math.cos(angle) * length, sy + math.sin(angle) * length * 0.8
                color = twig_light if rng.random() < 0.35 else twig
                draw.line([(sx, sy), ((sx + ex) / 2 + 4, (sy + ey) / 2), (ex, ey)], fill=color, width=4, joint="curve")
                for k in (0.33, 0.66):  # the joints of the twigs
                    blob(draw, sx + (ex - sx) * k, sy + (ey - sy) * k, 3, (100, 120, 70))


class Tamarisk(Species):
    """Tamarix: slender reddish stems, feathery blue-green foliage and pink flower plumes."""

    seed_color = (170, 120, 100)
    leaf_color = (98, 150, 125)
    stem_color = (150, 70, 60)

    def plant(self, draw: Draw, rng: random.Random, growth: float) -> None:
        x, y = BASE
        height = FULL_HEIGHT * growth
        bark, foliage, foliage_light = (150, 70, 60), (86, 140, 115), (130, 180, 150)
        pinks = [(236, 120, 170), (245, 160, 200), (214, 90, 150)]
        stems = 3 + round(4 * growth)
        tips = []
        for i in range(stems):
            angle = -math.pi / 2 + (i - (stems - 1) / 2) * 0.22
            points = branch(draw, rng, (x, y - 6), angle, height * rng.uniform(0.8, 1.0), 0, 0.12)
            stroke(draw, points, 4 + 9 * growth, bark)
            tips.extend(points[2:])
        for tx, ty in tips:  # feathery sprays
            for _ in range(6):
                angle = rng.uniform(-math.pi, 0)
                leaf(draw, tx, ty, rng.uniform(30, 60) * (0.5 + growth / 2), 12, angle, foliage)
            leaf(draw, tx, ty, 30 * (0.5 + growth / 2), 8, rng.uniform(-2.5, -0.6), foliage_light)
        plumes = {0.4: 2, 0.68: 6}.get(round(growth, 2), 14)
        for _ in range(plumes):
            tx, ty = rng.choice(tips[len(tips) // 3 :])
            angle = -math.pi / 2 + rng.uniform(-0.7, 0.7)
            length = rng.uniform(50, 80) * (0.6 + growth / 2)
            leaf(draw, tx, ty, length, length * 0.32, angle, rng.choice(pinks))


class SandWillow(Species):
    """Salix psammophila: a vase of thin straight yellow-brown stems with narrow silvery leaves."""

    seed_color = (200, 190, 160)
    leaf_color = (150, 178, 120)
    stem_color = (176, 136, 70)

    def plant(self, draw: Draw, rng: random.Random, growth: float) -> None:
        x, y = BASE
        height = FULL_HEIGHT * growth * 0.9
        bark, leaves = (176, 136, 70), [(140, 170, 110), (172, 196, 150), (120, 150, 95)]
        stems = 5 + round(6 * growth)
        for i in range(stems):
            angle = -math.pi / 2 + (i - (stems - 1) / 2) * (1.0 / stems)
            length = height * rng.uniform(0.75, 1.0)
            start = (x + (i - (stems - 1) / 2) * 3, y - 6)
            end = (start[0] + math.cos(angle) * length, start[1] + math.sin(angle) * length)
            stroke(draw, [start, end], 3 + 5 * growth, bark)
            for k in range(int(4 + 8 * growth)):
                t = 0.3 + 0.7 * k / (4 + 8 * growth)
                px, py = start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t
                side = 1 if k % 2 else -1
                leaf(draw, px, py, rng.uniform(34, 50), 10, angle + side * rng.uniform(0.4, 0.7), rng.choice(leaves))


class Pine(Species):
    """Pinus sylvestris var. mongolica: a straight orange-brown trunk and tiers of dark needles."""

    seed_color = (110, 80, 60)
    leaf_color = (40, 110, 70)
    stem_color = (170, 100, 60)

    def seed(self, draw: Draw, rng: random.Random) -> None:
        x, y = BASE
        leaf(draw, x - 10, y - 22, 70, 30, -0.5, (200, 165, 120, 220))  # the wing
        blob(draw, x - 12, y - 22, 14, self.seed_color)

    def sprout(self, draw: Draw, rng: random.Random) -> None:
        x, y = BASE
        top = (x, y - 100)
        stroke(draw, [(x, y - 10), top], 8, self.stem_color)
        for i in range(7):  # a star of needles
            leaf(draw, *top, 50, 7, -math.pi + i * math.pi / 6, self.leaf_color)

    def plant(self, draw: Draw, rng: random.Random, growth: float) -> None:
        x, y = BASE
        height = FULL_HEIGHT * growth
        top = y - height
        stroke(draw, [(x, y - 6), (x, top + 20)], 8 + 20 * growth, (176, 98, 56))
        tiers = 3 + round(3 * growth)
        dark, light = (30, 90, 55), (56, 130, 80)
        for i in range(tiers):
            t = i / tiers  # 0 at the bottom tier
            tier_y = y - height * (0.28 + 0.66 * t)
            half = height * (0.42 - 0.3 * t)
            tier_h = height * 0.3
            draw.polygon([(x - half, tier_y), (x + half, tier_y), (x, tier_y - tier_h)], fill=dark)
            draw.polygon([(x - half * 0.8, tier_y - 4), (x, tier_y - tier_h), (x - half * 0.1, tier_y - 4)], fill=light)
            for j in range(int(half / 14)):  # needle fringe
                fx = x - half + j * 28
                draw.line([(fx, tier_y), (fx + 8, tier_y + 14)], fill=dark, width=5)


SPECIES: dict[str, Species] = {
    "generic": Generic(),
    "saxaul": Saxaul(),
    "red-willow-tamarisk": Tamarisk(),
    "sand-willow": SandWillow(),
    "mongolian-pine": Pine(),
}


def draw_tree(key: str, stage: str) -> Image.Image:
    species = SPECIES[key]
    rng = random.Random(f"{key}/{stage}")
    image = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    soil(draw)
    if stage == "seed":
        species.seed(draw, rng)
    elif stage == "sprout":
        species.sprout(draw, rng)
    else:
        species.plant(draw, rng, GROWTH[stage])
    return _finish(image, SIZE)


def _finish(image: Image.Image, size: int) -> Image.Image:
    """Scale down (smooth edges) and keep 256 colours with alpha, which keeps the set small."""
    return image.resize((size, size), Image.Resampling.LANCZOS).quantize(256, method=Image.Quantize.FASTOCTREE)


def draw_ball() -> Image.Image:
    """A glowing green energy ball, 96x96."""
    size = 96 * SCALE
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    c = size / 2
    for r in range(int(c), int(c * 0.8), -2):  # soft halo
        alpha = int(90 * (1 - (r - c * 0.8) / (c * 0.2)))
        blob(draw, c, c, r, (180, 255, 160, alpha))
    radius = c * 0.78
    for i in range(40):  # a sphere lit from the upper left
        t = i / 40
        r = radius * (1 - t)
        green = (int(40 + 150 * t), int(160 + 90 * t), int(60 + 120 * t))
        blob(draw, c - radius * 0.3 * t, c - radius * 0.35 * t, r, green)
    blob(draw, c - radius * 0.4, c - radius * 0.45, radius * 0.14, (255, 255, 255, 200))
    return _finish(image, 96)


def draw_all() -> dict[str, Image.Image]:
    images = {f"{key}-{stage}.png": draw_tree(key, stage) for key in SPECIES for stage in STAGES}
    images["ball.png"] = draw_ball()
    return images


def differs(a: Image.Image, b: Image.Image) -> bool:
    """Equal up to rounding (a different zlib or Pillow patch release must not fail the check)."""
    if a.size != b.size:
        return True
    diff = ImageChops.difference(a.convert("RGBA"), b.convert("RGBA"))
    return max(extreme[1] for extreme in diff.getextrema()) > 2


def main(argv: list[str]) -> int:
    images = draw_all()
    if "--check" in argv:
        stale = [
            name
            for name, image in images.items()
            if not (SPRITES / name).exists() or differs(image, Image.open(SPRITES / name))
        ]
        for name in stale:
            print(f"stale or missing: assets/sprites/{name}", file=sys.stderr)
        return 1 if stale else 0
    SPRITES.mkdir(parents=True, exist_ok=True)
    for name, image in images.items():
        image.save(SPRITES / name, format="PNG", optimize=True)
    total = sum((SPRITES / name).stat().st_size for name in images)
    print(f"wrote {len(images)} sprites to {SPRITES} ({total / 1024:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
