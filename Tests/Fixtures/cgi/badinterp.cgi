#!/nonexistent/interp
This script's interpreter does not exist: executing it fails with ENOENT.
