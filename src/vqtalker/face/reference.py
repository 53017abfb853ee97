"""Neutral reference mesh for the head-pose fit of :mod:`vqtalker.face.controls`.

37 rigid face-mesh points (indices :data:`vqtalker.face.controls.RIGID`, same order) of a frontal,
upright face in image axes (x right, y down, z away from the camera), centred, unit RMS radius.
Made with :func:`vqtalker.face.controls.build_reference` from the mediapipe landmarks of 13 portraits that
the data manifest labels synthetic (StyleGAN / AI-generated; one is a painting): generalised Procrustes
mean, oriented so that the outer eye corners are level at equal depth and forehead top / chin are at equal
depth (roll = yaw = 0), then turned about x so that the portraits' mean pitch is 0.
"""

REFERENCE_POINTS = [
    (0.0021, -0.7401, -0.3836),
    (0.3166, -0.7353, -0.3538),
    (0.5812, -0.6991, -0.2448),
    (0.8219, -0.6179, -0.0526),
    (0.9744, -0.4873, 0.1694),
    (1.0668, -0.3187, 0.3908),
    (1.1129, -0.1345, 0.6270),
    (1.1270, 0.0981, 0.8255),
    (1.1119, 0.3243, 0.9318),
    (1.0879, 0.5592, 0.9754),
    (-0.3096, -0.7332, -0.3557),
    (-0.5728, -0.6949, -0.2458),
    (-0.8115, -0.6116, -0.0551),
    (-0.9637, -0.4793, 0.1672),
    (-1.0540, -0.3096, 0.3877),
    (-1.1007, -0.1250, 0.6223),
    (-1.1128, 0.1054, 0.8211),
    (-1.0977, 0.3287, 0.9279),
    (-1.0749, 0.5599, 0.9693),
    (-0.0096, 0.8356, -0.6010),
    (-0.0097, 0.9107, -0.3320),
    (-0.0092, 0.7317, -0.6458),
    (-0.0079, 0.5847, -0.6218),
    (-0.0055, 0.2141, -0.4073),
    (-0.0049, 0.0721, -0.3531),
    (-0.0063, 0.3416, -0.4747),
    (-0.0071, 0.4591, -0.5462),
    (-0.2871, 0.8542, -0.2107),
    (0.2723, 0.8552, -0.2047),
    (-0.7341, 0.0923, 0.0122),
    (-0.2894, 0.1427, -0.0724),
    (0.2737, 0.1477, -0.0774),
    (0.7284, 0.0923, 0.0122),
    (-0.0045, -0.1960, -0.4152),
    (-0.0022, -0.4717, -0.4110),
    (-0.2751, -0.4774, -0.3886),
    (0.2731, -0.4780, -0.3868),
]
