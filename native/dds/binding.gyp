{
  "targets": [
    {
      "target_name": "dds_shim",
      "sources": ["shim.c", "gen/ros2_types.c"],
      "include_dirs": ["gen", "."],
      "libraries": ["-lddsc"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"]
    }
  ]
}
