# Finds what the runtime's CUDA backend needs: nvcc (for the CUDA sources of
# the GPU tests and examples), the CUDA runtime and NCCL. Sets PWRT_HAS_CUDA
# (visible to the whole build), the imported targets pwrt::cudart and
# pwrt::nccl, and
# CMAKE_CUDA_ARCHITECTURES (default 90: H100/H200) before CUDA is enabled.
# Prints one line saying whether the backend is built and, if not, why.
# Directories with .cu files call pwrt_enable_cuda().
option(PWRT_ENABLE_CUDA
  "Build the runtime's CUDA + NCCL backend when CUDA and NCCL are found" ON)
set(PWRT_HAS_CUDA OFF CACHE INTERNAL "the CUDA backend is built")

set(_pwrt_cuda_missing "")
if(NOT PWRT_ENABLE_CUDA)
  set(_pwrt_cuda_missing "PWRT_ENABLE_CUDA is OFF")
else()
  if(NOT DEFINED CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
    find_program(PWRT_NVCC nvcc
      HINTS ENV CUDA_HOME ENV CUDA_PATH /usr/local/cuda PATH_SUFFIXES bin)
    if(PWRT_NVCC)
      set(CMAKE_CUDA_COMPILER ${PWRT_NVCC} CACHE FILEPATH "CUDA compiler")
    endif()
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    set(_pwrt_cuda_missing "no CUDA compiler (nvcc) in CUDA_HOME, /usr/local/cuda or PATH")
  else()
    get_filename_component(_pwrt_cuda_bin ${CMAKE_CUDA_COMPILER} DIRECTORY)
    get_filename_component(_pwrt_cuda_root ${_pwrt_cuda_bin} DIRECTORY)
    find_package(CUDAToolkit QUIET)
    if(NOT CUDAToolkit_FOUND)
      set(_pwrt_cuda_missing "no CUDA toolkit next to ${CMAKE_CUDA_COMPILER}")
    else()
      find_path(PWRT_NCCL_INCLUDE_DIR nccl.h
        HINTS ENV NCCL_HOME ${CUDAToolkit_INCLUDE_DIRS} ${_pwrt_cuda_root}
        PATH_SUFFIXES include)
      find_library(PWRT_NCCL_LIBRARY NAMES nccl libnccl.so.2
        HINTS ENV NCCL_HOME ${CUDAToolkit_LIBRARY_DIR} ${_pwrt_cuda_root}
        PATH_SUFFIXES lib64 lib)
      if(NOT PWRT_NCCL_INCLUDE_DIR OR NOT PWRT_NCCL_LIBRARY)
        set(_pwrt_cuda_missing "no NCCL (nccl.h and libnccl) in NCCL_HOME or next to CUDA ${CUDAToolkit_VERSION} in ${_pwrt_cuda_root}")
      endif()
    endif()
  endif()
endif()

if(_pwrt_cuda_missing)
  message(STATUS "pwrt: the CUDA backend is NOT built: ${_pwrt_cuda_missing}")
  return()
endif()

set(PWRT_HAS_CUDA ON CACHE INTERNAL "the CUDA backend is built")
if(NOT CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 90 CACHE STRING "GPU architectures to build for")
endif()
# One CUDA runtime in every program: the shared one, as the runtime links.
set(CMAKE_CUDA_RUNTIME_LIBRARY Shared CACHE STRING "CUDA runtime of .cu programs")
if(PW_CCACHE AND NOT CMAKE_CUDA_COMPILER_LAUNCHER)
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${PW_CCACHE} CACHE STRING "")
endif()
# Global targets (find_package's are visible in this directory only).
if(NOT TARGET pwrt::cudart)
  add_library(pwrt::cudart INTERFACE IMPORTED GLOBAL)
  set_target_properties(pwrt::cudart PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${CUDAToolkit_INCLUDE_DIRS}"
    INTERFACE_LINK_LIBRARIES "${CUDA_cudart_LIBRARY}")
  add_library(pwrt::nccl INTERFACE IMPORTED GLOBAL)
  set_target_properties(pwrt::nccl PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${PWRT_NCCL_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${PWRT_NCCL_LIBRARY}")
endif()
message(STATUS "pwrt: the CUDA backend is built (CUDA ${CUDAToolkit_VERSION}, "
  "NCCL ${PWRT_NCCL_LIBRARY}, GPU architectures ${CMAKE_CUDA_ARCHITECTURES})")

# Enables CUDA in the calling directory (for its .cu sources). C++17: what
# the kernels need, and a dialect every CMake knows nvcc's flag for.
macro(pwrt_enable_cuda)
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  set(CMAKE_CUDA_EXTENSIONS OFF)
endmacro()
