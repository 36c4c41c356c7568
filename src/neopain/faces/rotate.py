"""Faces at any roll: a wrapper that also detects on the image turned by 90, 180 and 270 degrees.

A phone at the bedside is held at any angle, and a face detector trained on upright faces misses many
faces lying on their side or upside down. ``RotatingDetector`` runs the wrapped detector on the image as
it is and on its three quarter turns (``cv2.rotate``: exact, no interpolation), then maps the faces of
the best turn back to the original pixels: the box as the axis-aligned box around the mapped box (exact
for quarter turns) and the five landmarks point by point, their order kept, so the subject's right eye
stays the right eye and ``crop_face(..., align=True)`` rolls the crop upright (``eye_angle`` of an
upside-down face is about 180 degrees). ``step=45`` (or 30, 15, ...) also tries the rolls between the
quarter turns, on a grown canvas (``roll_image``, ``unroll_face``).

Which roll wins: the one whose best face scores highest (a tie goes to the earlier roll: as is, then
clockwise by ``step``, ``2 * step``, ...); all faces of that roll are returned, none of the others (the
same face found in two rolls is not reported twice). ``mode="always"`` (the default) tries every roll;
``mode="missing"`` tries them only when the image as it is gives no face, which costs one detection when
it finds one but keeps that detection as it is: YuNet finds a sideways or upside-down astronaut yet lays
its landmarks out as on an upright face, so the eye line, and the aligned crop, come out wrong
(docs/FACES.md, "Faces at any angle").

Torch-free (the serving path imports it); ``Predictor.from_files`` wraps its detector in it by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from neopain.faces.base import BoxDetector, Face, FaceDetector, check_image, choose_face, shrunk

ROTATION_MODES = ("off", "missing", "always", "follow")
"""``off``: the detector alone; ``missing``: the rolls only when no face is found; ``always``: every roll;
``follow`` (one camera or video: the phone's angle and the face's place hold from frame to frame): the
last frame's roll, looked for only around the last face (``FOLLOW_WINDOW`` times its size, shrunk so the
face at most ``LOOK_FACE_PX`` pixels: the resolution the face needs), every roll on the whole frame
again when it finds no face as good, and every ``FOLLOW_RECHECK`` frames (a face entering the picture
elsewhere, a rival face, is noticed then). A camera that has just lost its face keeps it in mind for
``FOLLOW_COAST`` frames: the next frame looks in the lost face's window first, and while it is kept in
mind the whole-frame search compares the larger copies (the small faces') at the lost face's roll only:
a face big enough for the smallest copy is found at any roll at once, a small one at another roll once the
lost face is forgotten."""
FOLLOW_RECHECK = 10
FOLLOW_COAST = 2  # frames without the face it is kept in mind for (2 frames/s: a second)
FOLLOW_SCORE_DROP = 0.1  # the followed roll's face may score this much below the roll's last best
FOLLOW_WINDOW = 2.0  # side of the window around the last face, in face sizes
LOOK_FACE_PX = 128  # a face looked at in its window is shrunk to this (YuNet reads faces from 20 px)
FOLLOW_MIN_IOU = 0.2  # the followed face must overlap the last one this much (else: another face, search)

_CV2_TURN = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def _check_turn(degrees: int) -> int:
    if degrees % 90 != 0:
        raise ValueError(f"turns are multiples of 90 degrees, got {degrees}")
    return degrees % 360


def turn_image(image: np.ndarray, degrees: int) -> np.ndarray:
    """``image`` turned clockwise by a multiple of 90 degrees (exact: pixels moved, not interpolated)."""
    degrees = _check_turn(degrees)
    return image if degrees == 0 else cv2.rotate(image, _CV2_TURN[degrees])


def turned_size(width: int, height: int, degrees: int) -> tuple[int, int]:
    """(width, height) of a width x height image turned by ``degrees`` (a multiple of 90)."""
    return (height, width) if _check_turn(degrees) in (90, 270) else (width, height)


def turn_points(
    points: np.ndarray, degrees: int, width: int, height: int, edges: bool = False
) -> np.ndarray:
    """(N, 2) points of a width x height image, in the image turned clockwise by ``degrees``.

    Pixel centres by default (pixel (i, j) lands where ``cv2.rotate`` puts it); ``edges=True`` for box
    corners, where the image spans [0, width] x [0, height] and a whole-image box stays the whole image.
    """
    degrees = _check_turn(degrees)
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    right, bottom = (width, height) if edges else (width - 1, height - 1)
    x, y = points[:, 0], points[:, 1]
    if degrees == 90:
        return np.stack([bottom - y, x], axis=1)
    if degrees == 180:
        return np.stack([right - x, bottom - y], axis=1)
    if degrees == 270:
        return np.stack([y, right - x], axis=1)
    return points.copy()


def turn_face(face: Face, degrees: int, width: int, height: int) -> Face:
    """``face`` of a width x height image, in that image turned clockwise by ``degrees``: the box around
    the turned box (exact for quarter turns), the landmarks turned point by point in the same order."""
    x, y, w, h = face.box
    corners = np.array([[x, y], [x + w, y], [x, y + h], [x + w, y + h]])
    turned = turn_points(corners, degrees, width, height, edges=True)
    (left, top), (right, bottom) = turned.min(axis=0), turned.max(axis=0)
    landmarks = None
    if face.landmarks is not None:
        landmarks = turn_points(face.landmarks, degrees, width, height).astype(np.float32)
    return Face(float(left), float(top), float(right - left), float(bottom - top), face.score, landmarks)


def unturn_face(face: Face, degrees: int, width: int, height: int) -> Face:
    """A face found in the image turned by ``degrees``, back in the original width x height image."""
    turned_width, turned_height = turned_size(width, height, degrees)
    return turn_face(face, -_check_turn(degrees) % 360, turned_width, turned_height)


def roll_affine(width: int, height: int, degrees: int) -> tuple[np.ndarray, tuple[int, int]]:
    """The 2x3 affine taking a width x height image's pixel centres to the image rolled clockwise by
    ``degrees`` on a canvas grown to hold it, and that canvas's (width, height)."""
    if degrees % 90 == 0:
        origin, unit_x, unit_y = turn_points(np.array([[0, 0], [1, 0], [0, 1]]), degrees, width, height)
        return np.column_stack([unit_x - origin, unit_y - origin, origin]), turned_size(width, height, degrees)
    cos, sin = abs(math.cos(math.radians(degrees))), abs(math.sin(math.radians(degrees)))
    new_w, new_h = round(width * cos + height * sin), round(width * sin + height * cos)
    affine = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), -degrees, 1.0)
    affine[:, 2] += ((new_w - width) / 2, (new_h - height) / 2)
    return affine, (new_w, new_h)


def roll_image(image: np.ndarray, degrees: int, fill: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``image`` rolled clockwise by ``degrees`` and its ``roll_affine``: quarter turns exact
    (``cv2.rotate``), other angles bilinear on the grown canvas, the corners filled with ``fill``."""
    height, width = image.shape[:2]
    affine, size = roll_affine(width, height, degrees)
    if degrees % 90 == 0:
        return turn_image(image, degrees), affine
    rolled = cv2.warpAffine(image, affine, size, flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(fill, fill, fill))
    return rolled, affine


def unroll_face(face: Face, degrees: int, width: int, height: int) -> Face:
    """A face found in a width x height image rolled by ``degrees`` (``roll_image``), back in that image.

    Quarter turns map exactly (``unturn_face``). Otherwise the landmarks map point by point and the box
    keeps its size (its sides swapped nearer the odd quarter turns) around the mapped centre: the box
    around the mapped box would be up to 1.4 times too large, and the crop would shrink the face."""
    if degrees % 90 == 0:
        return unturn_face(face, degrees, width, height)
    back = cv2.invertAffineTransform(roll_affine(width, height, degrees)[0])
    cx, cy = _apply(back, np.array([face.center]))[0]
    w, h = (face.h, face.w) if 45 < degrees % 180 < 135 else (face.w, face.h)
    landmarks = None if face.landmarks is None else _apply(back, face.landmarks).astype(np.float32)
    return Face(float(cx - w / 2), float(cy - h / 2), float(w), float(h), face.score, landmarks)


def _apply(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points, dtype=np.float64).reshape(-1, 2) @ affine[:, :2].T + affine[:, 2]


def _shifted(face: Face, dx: float, dy: float) -> Face:
    landmarks = None if face.landmarks is None else face.landmarks + np.array([dx, dy], np.float32)
    return Face(face.x + dx, face.y + dy, face.w, face.h, face.score, landmarks)


def follow_window(face: Face, width: int, height: int) -> tuple[int, int, int, int]:
    """The window (x0, y0, x1, y1) a followed face is looked for in: ``FOLLOW_WINDOW`` face sizes around
    its centre, inside the width x height frame."""
    cx, cy = face.center
    half = FOLLOW_WINDOW * max(face.w, face.h) / 2
    x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
    x1, y1 = min(width, math.ceil(cx + half)), min(height, math.ceil(cy + half))
    return x0, y0, x1, y1


@dataclass(frozen=True)
class Followed:
    """What follow mode remembers between frames: the roll, its best score on the whole frame, the last
    face (original pixels) and the frames since the whole frame was searched."""

    angle: int
    score: float
    face: Face
    since_check: int = 0
    lost: int = 0  # frames since the face was last seen (0: seen in the last one)


class RotatingDetector(FaceDetector):
    """Any image detector, also run on the image rolled by every ``step`` degrees (90: the quarter
    turns); the faces of the best-scored roll, in the original image's pixels (the rule is in the module
    docstring). ``search_sides`` (for instance (160, 320)): the rolls are compared on copies that large
    first, smallest first, and the winning face is looked at again in a window at the resolution it needs
    (``LOOK_FACE_PX``); a frame none of them shows a face in gets no face (a face too small for a 320 px
    copy is too small to assess). Empty: every roll on the whole image."""

    def __init__(
        self, detector: FaceDetector, mode: str = "always", step: int = 90, search_sides: tuple[int, ...] = ()
    ) -> None:
        if isinstance(detector, BoxDetector):
            raise TypeError("the 'box' detector reads manifest boxes; there is nothing to turn")
        if isinstance(detector, RotatingDetector):
            raise TypeError("this detector already tries the rolls")
        if mode not in ROTATION_MODES[1:]:
            raise ValueError(f"unknown rotation mode '{mode}'; choose 'missing', 'always' or 'follow'")
        if step < 1 or 90 % step:
            raise ValueError(f"the step must divide 90 degrees (90, 45, 30, ...), got {step}")
        if any(side < 32 for side in search_sides):
            raise ValueError(f"search sides must be at least 32 px, got {search_sides}")
        super().__init__(max_side=None)  # the wrapped detector shrinks large images itself
        self.detector = detector
        self.mode = mode
        self.step = step
        self.search_sides = tuple(sorted(search_sides))
        self.name = f"{detector.name}+turns"
        self._followed: Followed | None = None  # follow mode's memory

    @property
    def angles(self) -> tuple[int, ...]:
        """The clockwise rolls tried, in the order that breaks score ties."""
        return tuple(range(0, 360, self.step))

    @property
    def signature(self) -> str:
        search = "" if not self.search_sides else f",search={'/'.join(map(str, self.search_sides))}"
        return f"turns:mode={self.mode},step={self.step}{search}[{self.detector.signature}]"

    def detect_turn(self, image_bgr: np.ndarray) -> tuple[list[Face], int]:
        """The faces of the best roll, in the original pixels and best score first, and that roll."""
        check_image(image_bgr)
        if self.mode != "follow":
            return self._search(image_bgr)
        followed = self._follow(image_bgr)
        if followed is not None:
            return followed
        state = self._followed
        lost_roll = None if state is None or state.since_check >= FOLLOW_RECHECK - 1 else state.angle
        faces, angle = self._search(image_bgr, lost_roll)
        chosen = choose_face(faces)
        if chosen is not None:
            self._followed = Followed(angle, faces[0].score, chosen)
        elif lost_roll is not None and state is not None and state.lost + 1 < FOLLOW_COAST:
            self._followed = replace(state, lost=state.lost + 1)
        else:
            self._followed = None
        return faces, angle

    def reset(self) -> None:
        """Forget the followed face (a new clip, another phone)."""
        self._followed = None

    def memory(self) -> Followed | None:
        return self._followed

    def restore(self, memory: object | None) -> None:
        self._followed = memory if isinstance(memory, Followed) else None

    def _best_roll(
        self, image_bgr: np.ndarray, first: list[Face] | None = None, angles: tuple[int, ...] | None = None
    ) -> tuple[list[Face], int]:
        """The faces of the best-scored roll of ``angles`` (default: every roll; ``first``: those found as
        it is), in ``image_bgr``'s pixels."""
        best: list[Face] = []
        best_angle = 0
        for degrees in self.angles if angles is None else angles:
            if degrees == 0:
                faces = self.detector.detect(image_bgr) if first is None else first
            else:
                faces = self.detector.detect(roll_image(image_bgr, degrees)[0])
            if faces and (not best or faces[0].score > best[0].score):
                best, best_angle = faces, degrees
        height, width = image_bgr.shape[:2]
        return [unroll_face(face, best_angle, width, height) for face in best], best_angle

    def _search(self, image_bgr: np.ndarray, lost_roll: int | None = None) -> tuple[list[Face], int]:
        """Every roll on the whole image (the rule is in the class docstring); ``lost_roll``: the roll of a
        face just lost, the only one the copies after the smallest are compared at."""
        if self.mode == "missing":
            upright = self.detector.detect(image_bgr)
            return (upright, 0) if upright else self._best_roll(image_bgr, upright)
        height, width = image_bgr.shape[:2]
        sides = [side for side in self.search_sides if side < max(height, width)]
        if not sides:
            return self._best_roll(image_bgr)
        for index, side in enumerate(sides):
            factor = side / max(height, width)
            angles = (lost_roll,) if lost_roll is not None and index > 0 else None
            found, angle = self._best_roll(shrunk(image_bgr, factor), angles=angles)
            if found:
                coarse = [face.scaled(1.0 / factor) for face in found]
                chosen = choose_face(coarse)
                sharp = _tracked(self.look_around(image_bgr, chosen, angle), chosen)
                # The chosen face as its own window shows it; the rivals as the small copy saw them.
                rivals = [face for face in coarse if face is not chosen]
                return ([sharp, *rivals] if sharp else coarse), angle
        return [], 0

    def look_around(self, image_bgr: np.ndarray, face: Face, angle: int) -> list[Face]:
        """The faces in a window ``FOLLOW_WINDOW`` times ``face``'s size around it, rolled by ``angle`` and
        shrunk so the face is at most ``LOOK_FACE_PX`` large; in the image's pixels, best score first."""
        height, width = image_bgr.shape[:2]
        x0, y0, x1, y1 = follow_window(face, width, height)
        if x1 <= x0 or y1 <= y0:
            return []  # the face was outside this frame (a frame of another size than the last)
        factor = min(1.0, LOOK_FACE_PX / max(face.w, face.h, 1.0))
        window = image_bgr[y0:y1, x0:x1]
        window = shrunk(window, factor) if factor < 1.0 else window
        found = self.detector.detect(roll_image(window, angle)[0])
        win_h, win_w = window.shape[:2]
        return [_shifted(unroll_face(f, angle, win_w, win_h).scaled(1.0 / factor), x0, y0) for f in found]

    def _follow(self, image_bgr: np.ndarray) -> tuple[list[Face], int] | None:
        """The followed face, looked for at its roll around its last place, when it is still there and as
        good (and no whole-frame search is due); None otherwise. Faces in original pixels."""
        state = self._followed
        if state is None or state.since_check >= FOLLOW_RECHECK - 1:
            return None
        faces = self.look_around(image_bgr, state.face, state.angle)
        tracked = _tracked(faces, state.face)
        if tracked is None or tracked.score < state.score - FOLLOW_SCORE_DROP:
            return None
        self._followed = replace(state, face=tracked, since_check=state.since_check + 1, lost=0)
        return faces, state.angle

    def _detect(self, image_bgr: np.ndarray) -> list[Face]:
        return self.detect_turn(image_bgr)[0]


def _tracked(faces: list[Face], last: Face) -> Face | None:
    """The face of ``faces`` that is ``last`` again (overlapping it most, at least ``FOLLOW_MIN_IOU``)."""
    best = max(faces, key=last.iou, default=None)
    return best if best is not None and best.iou(last) >= FOLLOW_MIN_IOU else None


def upright_detector(
    detector: FaceDetector, rotations: str = "always", step: int = 90, search_sides: tuple[int, ...] = ()
) -> FaceDetector:
    """``detector`` wrapped to find faces at any roll (``rotations``: one of ``ROTATION_MODES``, ``step``
    and ``search_sides`` as ``RotatingDetector``'s); the detector itself for ``"off"``, for the ``box``
    detector and for one already wrapped."""
    if rotations not in ROTATION_MODES:
        raise ValueError(f"unknown rotation mode '{rotations}'; choose one of {', '.join(ROTATION_MODES)}")
    if rotations == "off" or isinstance(detector, BoxDetector | RotatingDetector):
        return detector
    return RotatingDetector(detector, mode=rotations, step=step, search_sides=search_sides)
