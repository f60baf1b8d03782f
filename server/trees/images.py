"""Tree and forest pictures (SPEC 6), drawn with Pillow from the sprites in `assets/sprites/`.

The sprites are our own, drawn by `scripts/draw_sprites.py`. `render_tree` and `render_forest`
are pure and CPU-bound; `cached_png` keeps their output in a bounded in-process LRU keyed by
exactly what the picture shows, and renders a miss in a worker thread, off the event loop.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import anyio
from PIL import Image, ImageDraw, ImageFont

ASSETS = Path(__file__).resolve().parents[2] / "assets"
SPRITES = ASSETS / "sprites"
FONTS = ASSETS / "fonts"
STAGES = ("seed", "sprout", "sapling", "young", "grown")
GENERIC = "generic"
# A species an operator adds later still looks like its kin when its genus is one we have drawn.
GENUS_SPRITES = {
    "haloxylon": "saxaul",
    "tamarix": "red-willow-tamarisk",
    "salix": "sand-willow",
    "pinus": "mongolian-pine",
}

TREE_SIZE = 320
FOREST_WIDTH, FOREST_HEIGHT = 768, 512
BALL_SIZE = 64
MAX_BALLS = 12  # ball slots around the tree; the last one says "+N" when there are more
MAX_PLANTED = 36  # icons along the horizon; a label counts the rest
PLANTED_ICON = 48

renders: Counter[str] = Counter()  # how many pictures were actually drawn (the tests watch it)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@lru_cache(maxsize=1)
def sprite_keys() -> frozenset[str]:
    return frozenset(path.name.removesuffix("-grown.png") for path in SPRITES.glob("*-grown.png"))


def species_key(common_name: str, scientific_name: str = "") -> str:
    """The sprite set of a species: its common or scientific name, else its genus, else `generic`."""
    keys = sprite_keys()
    for candidate in (slug(common_name), slug(scientific_name)):
        if candidate in keys:
            return candidate
    genus = GENUS_SPRITES.get(slug(scientific_name).partition("-")[0], GENERIC)
    return genus if genus in keys else GENERIC


@lru_cache(maxsize=64)
def _sprite(name: str) -> Image.Image:
    image = Image.open(SPRITES / name).convert("RGBA")
    image.load()
    return image


def tree_sprite(key: str, stage: str) -> Image.Image:
    if key not in sprite_keys():
        key = GENERIC
    return _sprite(f"{key}-{stage if stage in STAGES else 'grown'}.png")


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONTS / "DejaVuSans.ttf"), size)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=6)
    return out.getvalue()


def render_tree(key: str, stage: str) -> bytes:
    """One species at one stage on a round backdrop, TREE_SIZE x TREE_SIZE."""
    renders["tree"] += 1
    image = Image.new("RGBA", (TREE_SIZE, TREE_SIZE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((8, 8, TREE_SIZE - 8, TREE_SIZE - 8), fill=(226, 240, 250, 255), outline=(190, 215, 230), width=4)
    sprite = tree_sprite(key, stage)
    offset = (TREE_SIZE - sprite.width) // 2
    image.alpha_composite(sprite, (offset, offset + 8))
    return _png(image)


# The forest ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForestScene:
    """Exactly what a forest picture shows, and so its cache key."""

    tree: tuple[str, str] | None  # (species key, stage) of the growing tree
    balls: tuple[int, ...]  # grams of the ripe balls drawn, in order
    more_balls: int  # ripe balls beyond the slots
    planted: tuple[tuple[str, bool], ...]  # (species key, planted yet?) of the icons drawn
    more_planted: int


def forest_scene(tree: tuple[str, str] | None, ripe_grams: list[int], planted: list[tuple[str, bool]]) -> ForestScene:
    balls = ripe_grams if len(ripe_grams) <= MAX_BALLS else ripe_grams[: MAX_BALLS - 1]
    shown = planted[:MAX_PLANTED]
    return ForestScene(tree, tuple(balls), len(ripe_grams) - len(balls), tuple(shown), len(planted) - len(shown))


def _ball_slots() -> list[tuple[int, int]]:
    """Top-left corners of the ball slots: three columns of two on each side of the tree."""
    slots = []
    for row in range(2):
        for column in range(3):
            lift = (0, 26, 8)[column]
            y = 50 + row * 112 - lift
            slots.append((40 + column * 86, y))
            slots.append((FOREST_WIDTH - 40 - BALL_SIZE - column * 86, y))
    return slots  # left and right in turn, the top row first


BALL_SLOTS = _ball_slots()


def _label(draw: ImageDraw.ImageDraw, center: tuple[float, float], text: str, size: int = 18) -> None:
    font = _font(size)
    width = draw.textlength(text, font=font)
    draw.text(
        (center[0] - width / 2, center[1]),
        text,
        font=font,
        fill=(255, 255, 255),
        stroke_width=3,
        stroke_fill=(30, 80, 40),
    )


def _background() -> Image.Image:
    image = Image.new("RGBA", (FOREST_WIDTH, FOREST_HEIGHT), (0, 0, 0, 255))
    draw = ImageDraw.Draw(image)
    top, bottom = (150, 200, 240), (232, 244, 250)
    for y in range(FOREST_HEIGHT):
        t = min(1.0, y / 330)
        draw.line(
            [(0, y), (FOREST_WIDTH, y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        )
    draw.ellipse((FOREST_WIDTH // 2 - 35, 24, FOREST_WIDTH // 2 + 35, 94), fill=(255, 236, 150))
    draw.ellipse((-200, 300, FOREST_WIDTH * 0.6, 560), fill=(205, 190, 135))  # far dunes
    draw.ellipse((FOREST_WIDTH * 0.35, 290, FOREST_WIDTH + 220, 560), fill=(198, 182, 126))
    draw.rectangle((0, 400, FOREST_WIDTH, FOREST_HEIGHT), fill=(186, 170, 112))  # near ground
    draw.ellipse((-100, 380, FOREST_WIDTH + 100, 620), fill=(176, 160, 104))
    return image


@lru_cache(maxsize=1)
def background() -> Image.Image:
    return _background()


@lru_cache(maxsize=32)
def _icon(key: str, planted: bool) -> Image.Image:
    icon = tree_sprite(key, "grown").resize((PLANTED_ICON, PLANTED_ICON), Image.Resampling.LANCZOS)
    if not planted:  # queued or ordered: on its way, drawn faint
        icon.putalpha(icon.getchannel("A").point(lambda a: a * 45 // 100))
    return icon


def _empty_plot(image: Image.Image, draw: ImageDraw.ImageDraw) -> None:
    cx, base = FOREST_WIDTH // 2, 468
    draw.ellipse((cx - 120, base - 22, cx + 120, base + 26), fill=(121, 85, 58))
    draw.ellipse((cx - 104, base - 26, cx + 104, base + 12), fill=(143, 104, 72))
    draw.rectangle((cx + 60, base - 96, cx + 68, base - 10), fill=(120, 82, 52))  # a sign post
    draw.rounded_rectangle((cx + 8, base - 136, cx + 170, base - 90), radius=8, fill=(222, 190, 140))
    font = _font(18)
    draw.text((cx + 89, base - 113), "plant a tree", font=font, fill=(90, 60, 35), anchor="mm")


def render_forest(scene: ForestScene) -> bytes:
    """The forest, FOREST_WIDTH x FOREST_HEIGHT: planted trees on the horizon, the growing tree
    (or an empty plot) in front, and the ripe balls with their grams around it."""
    renders["forest"] += 1
    image = background().copy()
    draw = ImageDraw.Draw(image)

    for index, (key, planted) in enumerate(scene.planted):  # two staggered rows on the horizon
        row, column = divmod(index, MAX_PLANTED // 2)
        x = 12 + column * 42 + row * 21
        image.alpha_composite(_icon(key, planted), (x, 278 + row * 28))
    if scene.more_planted:
        _label(draw, (60, 372), f"+{scene.more_planted} trees", 16)

    if scene.tree is None:
        _empty_plot(image, draw)
    else:
        sprite = tree_sprite(*scene.tree).resize((288, 288), Image.Resampling.LANCZOS)
        image.alpha_composite(sprite, ((FOREST_WIDTH - 288) // 2, 480 - 260))

    ball = _sprite("ball.png").resize((BALL_SIZE, BALL_SIZE), Image.Resampling.LANCZOS)
    labels = [f"{grams:,} g" for grams in scene.balls]
    if scene.more_balls:
        labels.append(f"+{scene.more_balls} more")
    for (x, y), text in zip(BALL_SLOTS, labels, strict=False):
        image.alpha_composite(ball, (x, y))
        _label(draw, (x + BALL_SIZE / 2, y + BALL_SIZE + 2), text)
    return _png(image.convert("RGB"))


# Caching -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    png: bytes
    etag: str


class PngCache:
    """A bounded LRU of rendered pictures, safe to share between the loop and worker threads."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[Hashable, Rendered] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Rendered | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: Hashable, item: Rendered) -> None:
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


TREES = PngCache(256)  # species x stage: a few dozen entries of 5-40 kB
FORESTS = PngCache(128)  # one per distinct scene, 20-120 kB each: at most ~15 MB a worker


async def cached_png(cache: PngCache, key: Hashable, render: Callable[..., bytes], *args: Any) -> Rendered:
    """A cached picture, or a fresh one rendered in a worker thread (never on the event loop)."""
    hit = cache.get(key)
    if hit is not None:
        return hit
    png = await anyio.to_thread.run_sync(render, *args)
    rendered = Rendered(png, f'"{hashlib.sha256(png).hexdigest()[:32]}"')
    cache.put(key, rendered)
    return rendered
