"""GPU-side copies between OpenGL textures, for handing Panda3D's eye images to a runtime.

A runtime owns its swapchain images (GL textures it allocated); Panda3D renders each eye into
a texture of its own. ``glCopyImageSubData`` (OpenGL 4.3, or ARB_copy_image) copies one into
the other on the GPU without a framebuffer, a shader or a round trip to memory, and without
touching any GL state Panda3D tracks (bindings, viewport, blending), so Panda's state cache
stays true.

The GL functions are loaded with ctypes from whichever window system owns the current context
(EGL for Panda3D's offscreen buffers, GLX for its X11 windows), not through PyOpenGL: PyOpenGL
picks one platform per process and pyopenxr forces it to GLX, which would be wrong for EGL.
Everything here must run on the thread where Panda3D's GL context is current (its draw thread,
e.g. inside a display region's draw callback).
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

GL_TEXTURE_2D = 0x0DE1
GL_VERSION = 0x1F02
GL_EXTENSIONS = 0x1F03
GL_NUM_EXTENSIONS = 0x821D
GL_NO_ERROR = 0

# void glCopyImageSubData(GLuint srcName, GLenum srcTarget, GLint srcLevel, GLint srcX,
#   GLint srcY, GLint srcZ, GLuint dstName, GLenum dstTarget, GLint dstLevel, GLint dstX,
#   GLint dstY, GLint dstZ, GLsizei srcWidth, GLsizei srcHeight, GLsizei srcDepth)
_CopyImageSubData = ctypes.CFUNCTYPE(
    None, ctypes.c_uint, ctypes.c_uint, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
    ctypes.c_uint, ctypes.c_uint, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
    ctypes.c_int, ctypes.c_int, ctypes.c_int)
_GetString = ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.c_uint)
_GetStringi = ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.c_uint, ctypes.c_uint)
_GetIntegerv = ctypes.CFUNCTYPE(None, ctypes.c_uint, ctypes.POINTER(ctypes.c_int))
_GetError = ctypes.CFUNCTYPE(ctypes.c_uint)


def _library(name: str) -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


_libraries: dict[str, ctypes.CDLL | None] = {}


def _lib(name: str) -> ctypes.CDLL | None:
    """``name`` loaded once (``None`` when this machine lacks it)."""
    if name not in _libraries:
        _libraries[name] = _library(name)
    return _libraries[name]


def current_egl_context() -> int:
    """The EGL context current on this thread (0: none, or no libEGL)."""
    egl = _lib("libEGL.so.1")
    if egl is None:
        return 0
    fn = egl.eglGetCurrentContext
    fn.restype = ctypes.c_void_p
    fn.argtypes = []
    return int(fn() or 0)


def current_glx_context() -> int:
    """The GLX context current on this thread (0: none, or no libGL)."""
    gl = _lib("libGL.so.1")
    if gl is None:
        return 0
    fn = gl.glXGetCurrentContext
    fn.restype = ctypes.c_void_p
    fn.argtypes = []
    return int(fn() or 0)


def get_proc_address(name: str) -> int:
    """The address of GL function ``name`` for the current context (0: not found).

    With an EGL context current it comes from ``eglGetProcAddress``, else from
    ``glXGetProcAddressARB``. (Both may return a dispatch stub for a function the driver lacks,
    so callers also check the GL version or extension.)
    """
    if current_egl_context():
        egl = _lib("libEGL.so.1")
        assert egl is not None  # it answered current_egl_context()
        fn = egl.eglGetProcAddress
    else:
        gl = _lib("libGL.so.1")
        if gl is None:
            return 0
        fn = gl.glXGetProcAddressARB
    fn.restype = ctypes.c_void_p
    fn.argtypes = [ctypes.c_char_p]
    return int(fn(name.encode()) or 0)


@dataclass(frozen=True)
class _Functions:
    copy: Any
    get_error: Any


# One set per GL context: function pointers may differ between contexts (and between EGL and
# GLX) in principle, and looking them up every frame would cost a few microseconds for nothing.
_cache: dict[tuple[str, int], _Functions] = {}


def _current_context() -> tuple[str, int]:
    egl = current_egl_context()
    if egl:
        return "egl", egl
    glx = current_glx_context()
    if glx:
        return "glx", glx
    raise RuntimeError(
        "copy_texture needs an OpenGL context current on this thread (EGL or GLX): call it "
        "from Panda3D's draw thread, e.g. inside a display region's draw callback")


def _load(name: str, prototype: Any) -> Any:
    address = get_proc_address(name)
    if not address:
        raise RuntimeError(f"the OpenGL driver has no {name}")
    return prototype(address)


def current_gl_version() -> tuple[int, int]:
    """The (major, minor) OpenGL version of the context current on this thread ((0, 0) when
    the driver's version string cannot be read)."""
    _current_context()
    version = (_load("glGetString", _GetString)(GL_VERSION) or b"").decode(errors="replace")
    # "4.5 (Compatibility Profile) Mesa 22.3.6", "4.6.0 NVIDIA 550.54": the first word.
    try:
        major, minor = (int(part) for part in version.split()[0].split(".")[:2])
    except (ValueError, IndexError):
        return 0, 0
    return major, minor


def _has_copy_image() -> bool:
    """OpenGL 4.3 or newer, or the ARB_copy_image extension."""
    if current_gl_version() >= (4, 3):
        return True
    count = ctypes.c_int(0)
    _load("glGetIntegerv", _GetIntegerv)(GL_NUM_EXTENSIONS, ctypes.byref(count))
    get_stringi = _load("glGetStringi", _GetStringi)
    return any(get_stringi(GL_EXTENSIONS, i) == b"GL_ARB_copy_image"
               for i in range(count.value))


def _functions() -> _Functions:
    key = _current_context()
    functions = _cache.get(key)
    if functions is None:
        if not _has_copy_image():
            raise RuntimeError(
                "the OpenGL driver has no glCopyImageSubData (needs OpenGL 4.3 or "
                "GL_ARB_copy_image)")
        functions = _Functions(copy=_load("glCopyImageSubData", _CopyImageSubData),
                               get_error=_load("glGetError", _GetError))
        _cache[key] = functions
    return functions


def copy_texture(src: int, dst: int, width: int, height: int) -> None:
    """Copy the ``width`` x ``height`` pixels at the origin of level 0 of GL_TEXTURE_2D
    ``src`` into ``dst`` (both GL texture names, of compatible formats, e.g. RGBA8 into
    SRGB8_ALPHA8: the bytes are copied as they are).

    Raises :class:`RuntimeError` when no GL context is current, the driver lacks the copy, or
    GL reports an error for it (e.g. a texture name that is not a 2D texture of that size).
    """
    functions = _functions()
    # Errors left over from earlier calls are not the copy's: drop them, so that the check
    # below reports only what the copy did.
    for _ in range(16):
        stale = functions.get_error()
        if stale == GL_NO_ERROR:
            break
        log.debug("copy_texture: dropped an earlier GL error 0x%04X", stale)
    functions.copy(src, GL_TEXTURE_2D, 0, 0, 0, 0, dst, GL_TEXTURE_2D, 0, 0, 0, 0,
                   width, height, 1)
    error = functions.get_error()
    if error != GL_NO_ERROR:
        raise RuntimeError(f"glCopyImageSubData({src} -> {dst}, {width}x{height}) failed: "
                           f"GL error 0x{error:04X}")


def native_texture_id(texture: Any, gsg: Any) -> int:
    """The GL name of a Panda3D ``Texture`` on ``gsg`` (its GraphicsStateGuardian),
    preparing the texture there first if it is not yet (call with the GL context current).

    Take the name once the texture has its storage: for a texture a buffer renders into,
    after the buffer has rendered once (prepared earlier, Panda3D allocates it at the
    texture's size then, 1x1 for a new ``Texture``, and the copy fails with
    GL_INVALID_VALUE); a texture made from memory gets its pixels when Panda3D first draws
    with it.
    """
    context = texture.prepare_now(0, gsg.get_prepared_objects(), gsg)
    if context is None:
        raise RuntimeError(f"Panda3D could not prepare texture {texture.get_name()!r}")
    return int(context.get_native_id())
