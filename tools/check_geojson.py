#!/usr/bin/env python3
"""Checks a GeoJSON file Tessera wrote (infer/submit --geojson) with the `geojson` package
(pip install geojson): valid as RFC 7946 says, every feature a Polygon whose exterior ring
is counter-clockwise (x right, y up) and holes clockwise, and every ring closed.

    python3 tools/check_geojson.py mask.geojson
"""
import sys
import geojson


def signed_area(ring):
    return sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(ring, ring[1:])) / 2


def main(path):
    with open(path) as f:
        collection = geojson.load(f)
    if not collection.is_valid:
        sys.exit(f"{path}: invalid GeoJSON: {collection.errors()}")
    features = collection["features"]
    for i, feature in enumerate(features):
        geometry = feature["geometry"]
        if geometry["type"] != "Polygon" or not geometry.is_valid:
            sys.exit(f"{path}: feature {i} is not a valid Polygon: {geometry.errors()}")
        rings = geometry["coordinates"]
        if any(ring[0] != ring[-1] or len(ring) < 4 for ring in rings):
            sys.exit(f"{path}: feature {i} has a ring that is not closed")
        if signed_area(rings[0]) <= 0 or any(signed_area(r) >= 0 for r in rings[1:]):
            sys.exit(f"{path}: feature {i}: exterior rings must be counter-clockwise, holes clockwise")
        if feature["properties"].get("objectType") != "annotation" or "name" not in feature["properties"].get("classification", {}):
            sys.exit(f"{path}: feature {i} lacks QuPath's objectType or classification")
    holes = sum(len(f["geometry"]["coordinates"]) - 1 for f in features)
    print(f"{path}: valid, {len(features)} polygons, {holes} holes")


if __name__ == "__main__":
    main(sys.argv[1])
